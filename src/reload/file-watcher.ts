import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { Logger } from 'pino';

/** The files and directories whose changes trigger a reload. */
export interface WatchPaths {
  /** Files, watched through their directory so that a rename-replace is seen too. */
  files: readonly string[];
  /** Rule directories: their *.yaml and *.yml entries, and the directory itself being replaced. */
  directories: readonly string[];
}

export interface FileWatcherOptions {
  /** Quiet time after the last event before `onChange` runs. */
  debounceMs: number;
  logger: Logger;
  /** Called with the changed paths once the events have settled. */
  onChange: (changed: string[]) => void;
}

interface WatchedDirectory {
  watcher: FSWatcher;
  /** Inode when the watch started. A different inode now means the directory was replaced. */
  inode: number;
  names: Set<string>;
  yaml: boolean;
}

/**
 * Watches directories rather than files. Editors and `sed -i` save by writing a new file
 * and renaming it over the old one, and a watch on the old file's inode would never see
 * that. A burst of events runs `onChange` once, `debounceMs` after the last event, but at
 * the latest four debounce periods (and at least 1 s) after the first, so steady writes
 * still reload.
 */
export class FileWatcher {
  private readonly watched = new Map<string, WatchedDirectory>();
  private readonly changed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  private closed = false;

  constructor(private readonly options: FileWatcherOptions) {}

  /**
   * Watch exactly these paths from now on. Directories that are no longer needed are
   * released, and a directory replaced since its watch started is watched again.
   */
  watch(paths: WatchPaths): void {
    if (this.closed) return;
    const targets = watchTargets(paths);

    for (const [directory, entry] of this.watched) {
      if (!targets.has(directory)) this.release(directory, entry);
    }

    for (const [directory, target] of targets) {
      const inode = inodeOf(directory);
      const existing = this.watched.get(directory);
      if (existing && existing.inode === inode) {
        existing.names = target.names;
        existing.yaml = target.yaml;
        continue;
      }
      if (existing) this.release(directory, existing);
      // A missing directory is watched once a reload finds it again, usually through the
      // watch on its parent.
      if (inode !== undefined) this.start(directory, inode, target);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const [directory, entry] of this.watched) this.release(directory, entry);
  }

  private start(directory: string, inode: number, target: { names: Set<string>; yaml: boolean }): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(directory, { persistent: false }, (_event, name) => this.onEvent(directory, name));
    } catch (error) {
      this.options.logger.warn({ err: error, file: { directory } }, 'watching a directory for rule changes failed; send SIGHUP to reload');
      return;
    }
    watcher.on('error', (error) => {
      this.options.logger.warn({ err: error, file: { directory } }, 'a directory watch for rule changes stopped; reloading to watch it again');
      const entry = this.watched.get(directory);
      if (entry?.watcher === watcher) this.release(directory, entry);
      this.schedule(directory);
    });
    this.watched.set(directory, { watcher, inode, ...target });
  }

  private release(directory: string, entry: WatchedDirectory): void {
    entry.watcher.close();
    this.watched.delete(directory);
  }

  private onEvent(directory: string, name: string | null): void {
    const entry = this.watched.get(directory);
    if (!entry || !isRelevant(entry, name)) return;
    this.schedule(name ? join(directory, name) : directory);
  }

  private schedule(path: string): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.timer === undefined) this.firstEventAt = now;
    clearTimeout(this.timer);
    this.changed.add(path);

    const maxWaitMs = Math.max(1000, this.options.debounceMs * 4);
    const delay = Math.max(0, Math.min(this.options.debounceMs, this.firstEventAt + maxWaitMs - now));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const changed = [...this.changed];
    this.changed.clear();
    if (!this.closed) this.options.onChange(changed);
  }
}

/** Group the paths by the directory to watch and the entry names that matter there. */
function watchTargets(paths: WatchPaths): Map<string, { names: Set<string>; yaml: boolean }> {
  const targets = new Map<string, { names: Set<string>; yaml: boolean }>();
  const target = (directory: string) => {
    let entry = targets.get(directory);
    if (!entry) {
      entry = { names: new Set(), yaml: false };
      targets.set(directory, entry);
    }
    return entry;
  };

  for (const file of paths.files) target(dirname(file)).names.add(basename(file));
  for (const directory of paths.directories) {
    target(directory).yaml = true;
    target(dirname(directory)).names.add(basename(directory));
  }
  return targets;
}

/**
 * Return whether an event names an entry that matters. Names starting with `..` count too:
 * Kubernetes updates a mounted ConfigMap by renaming its `..data` link, while the files
 * the config names are links through it that never change themselves.
 */
function isRelevant(entry: WatchedDirectory, name: string | null): boolean {
  if (name === null) return true;
  if (entry.names.has(name) || name.startsWith('..')) return true;
  return entry.yaml && /\.ya?ml$/.test(name);
}

function inodeOf(directory: string): number | undefined {
  try {
    const stats = statSync(directory);
    return stats.isDirectory() ? stats.ino : undefined;
  } catch {
    return undefined;
  }
}

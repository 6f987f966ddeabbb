import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import pino, { type DestinationStream } from 'pino';

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * A log file that `reopen()` moves to a new file at the same path, as log rotation needs.
 * The new file is opened before the old one is closed. So when the path cannot be opened
 * (it is a directory now, or the gateway user cannot create it), lines go to the old file.
 */
export class LogFile implements DestinationStream {
  private current: SonicBoom;

  constructor(readonly path: string) {
    this.current = open(path);
  }

  write(line: string): boolean {
    return this.current.write(line);
  }

  /** Open the path again and write there from now on, or return the error when it cannot be opened. */
  reopen(): NodeJS.ErrnoException | undefined {
    let next: SonicBoom;
    try {
      next = open(this.path);
    } catch (error) {
      return error as NodeJS.ErrnoException;
    }
    const previous = this.current;
    this.current = next;
    // Writes are synchronous, so the old file already has every line and end() only closes it.
    previous.end();
    return undefined;
  }

  flushSync(): void {
    this.current.flushSync();
  }

  /** Write out what is queued and close the file, then call `onClose`. */
  end(onClose: () => void): void {
    this.current.once('close', onClose);
    this.current.end();
  }
}

function open(path: string): SonicBoom {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a');
  // Synchronous, like stdout: each line is in the file when the logging call returns.
  return pino.destination({ dest: fd, sync: true });
}

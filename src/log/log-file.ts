import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import type { DestinationStream } from 'pino';

import { SyncDestination } from './sync-destination.js';

/**
 * A log file that `reopen()` moves to a new file at the same path, as log rotation needs.
 * The new file is opened before the old one is closed. So when the path cannot be opened
 * (it is a directory now, or the gateway user cannot create it), lines go to the old file.
 */
export class LogFile implements DestinationStream {
  private current: SyncDestination;
  /** The error of the last failed write, until a line is written again, to this file or the next. */
  private writeFailure: NodeJS.ErrnoException | undefined;

  /** `onFailure` is called with the error when writes start to fail, and with undefined when they work again. */
  constructor(readonly path: string, private readonly onFailure: (error: NodeJS.ErrnoException | undefined) => void = () => {}) {
    this.current = this.open();
  }

  /** The error of the last failed write, such as ENOSPC on a full disk, while writes fail. */
  get failure(): NodeJS.ErrnoException | undefined {
    return this.writeFailure;
  }

  write(line: string): boolean {
    const written = this.current.write(line);
    if (written && this.writeFailure) {
      this.writeFailure = undefined;
      this.onFailure(undefined);
    }
    return written;
  }

  /** Open the path again and write there from now on, or return the error when it cannot be opened. */
  reopen(): NodeJS.ErrnoException | undefined {
    let next: SyncDestination;
    try {
      next = this.open();
    } catch (error) {
      return error as NodeJS.ErrnoException;
    }
    const previous = this.current;
    this.current = next;
    // Writes are synchronous, so the old file already has every line it will get.
    previous.close();
    return undefined;
  }

  /** Close the file, then call `onClose`. Every line is written already. */
  end(onClose: () => void): void {
    this.current.close();
    onClose();
  }

  /** Open the path for appending. A failed write (a full disk) drops its line and is reported once. */
  private open(): SyncDestination {
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a');
    return new SyncDestination(fd, (error) => {
      if (!error || this.writeFailure) return;
      this.writeFailure = error;
      this.onFailure(error);
    });
  }
}

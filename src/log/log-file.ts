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
  private errors = 0;
  /** The error of the last failed write, until a write succeeds again. */
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
    const before = this.errors;
    const written = this.current.write(line);
    // The destination writes synchronously, so a failed write has reported its error by now.
    if (this.errors === before && this.writeFailure) {
      this.writeFailure = undefined;
      this.onFailure(undefined);
    }
    return written;
  }

  /** Open the path again and write there from now on, or return the error when it cannot be opened. */
  reopen(): NodeJS.ErrnoException | undefined {
    let next: SonicBoom;
    try {
      next = this.open();
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

  /**
   * Open the path for appending. A failed write (a full disk) emits an error, which would
   * stop the process without a listener. The listener records it, and the line is lost.
   */
  private open(): SonicBoom {
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a');
    // Synchronous, like stdout: each line is in the file when the logging call returns.
    const destination = pino.destination({ dest: fd, sync: true });
    destination.on('error', (error: NodeJS.ErrnoException) => {
      this.errors += 1;
      if (this.writeFailure) return;
      this.writeFailure = error;
      this.onFailure(error);
    });
    return destination;
  }
}

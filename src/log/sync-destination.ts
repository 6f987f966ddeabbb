import { closeSync, writeSync } from 'node:fs';

import type { DestinationStream } from 'pino';

/** Pause before writing again to a full pipe, whose reader is behind (EAGAIN). */
const RETRY_PAUSE_MS = 10;

/** Maximum time a line waits for a full pipe before the write counts as failed. */
const MAX_WAIT_MS = 1000;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A log destination that writes each line to a file descriptor before `write` returns, or
 * drops it when the write fails. pino's own destination keeps failed lines in memory, which
 * then grows with every request while a disk is full. After a broken pipe (EPIPE) it drops
 * every later line without an error, so logins would pass unlogged. Here each failure is
 * reported, and the first line written again ends it.
 */
export class SyncDestination implements DestinationStream {
  private writeFailure: NodeJS.ErrnoException | undefined;
  /** True when a failed write left part of a line, which the next line must not continue. */
  private partialLine = false;
  /** Set by close(). The descriptor's number may then name another file, so nothing is written. */
  private closed = false;

  /** `onFailure` is called with the error when writes start to fail, and with undefined when they work again. */
  constructor(readonly fd: number, private readonly onFailure: (error: NodeJS.ErrnoException | undefined) => void) {}

  /** The error of the last failed write, while writes fail. */
  get failure(): NodeJS.ErrnoException | undefined {
    return this.writeFailure;
  }

  write(line: string): boolean {
    if (this.closed) return false;
    const data = Buffer.from(this.partialLine ? `\n${line}` : line, 'utf8');
    let offset = 0;
    // A line waits for a slow reader only while writes work, so a stalled reader costs each
    // later line one attempt instead of a second of the event loop.
    let waited = this.writeFailure ? MAX_WAIT_MS : 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === 'EAGAIN' || code === 'EBUSY') && waited < MAX_WAIT_MS) {
          Atomics.wait(pause, 0, 0, RETRY_PAUSE_MS);
          waited += RETRY_PAUSE_MS;
          continue;
        }
        this.fail(error as NodeJS.ErrnoException, offset > 0 || this.partialLine);
        return false;
      }
    }

    this.partialLine = false;
    if (this.writeFailure) {
      this.writeFailure = undefined;
      this.onFailure(undefined);
    }
    return true;
  }

  /** Close the descriptor, unless it is stdout or stderr. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd > 2) closeSync(this.fd);
  }

  private fail(error: NodeJS.ErrnoException, partialLine: boolean): void {
    this.partialLine = partialLine;
    if (this.writeFailure) return;
    this.writeFailure = error;
    this.onFailure(error);
  }
}

import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';

import type { DestinationStream } from 'pino';

/** Most bytes kept for a pipe whose reader is behind. A line that does not fit is dropped. */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** Pause before writing pending bytes to a full pipe again. */
const RETRY_PAUSE_MS = 10;

/** Maximum wait for a full pipe while closing, so a shutdown gives the reader a last chance. */
const CLOSE_WAIT_MS = 1000;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A log destination that writes each line to a file descriptor before `write` returns, or
 * drops it when the write fails. pino's own destination keeps failed lines in memory, which
 * then grows with every request while a disk is full. After a broken pipe (EPIPE) it drops
 * every later line without an error, so logins would pass unlogged. Here each failure is
 * reported, and the first line written again ends it.
 *
 * A pipe opened without blocking (see openStdout) that is full (EAGAIN) keeps the rest in
 * memory, up to MAX_PENDING_BYTES, and writes it from a timer, so a slow reader stalls no
 * request. A line that does not fit is dropped, which is a failure until everything
 * pending is written.
 */
export class SyncDestination implements DestinationStream {
  private writeFailure: NodeJS.ErrnoException | undefined;
  /** True when the bytes written so far end inside a line, which the next line must not continue. */
  private midLine = false;
  /** Set by close(). The descriptor's number may then name another file, so nothing is written. */
  private closed = false;
  /** Bytes a full pipe did not take yet, in order. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  /** `onFailure` is called with the error when writes start to fail, and with undefined when they work again. */
  constructor(readonly fd: number, private readonly onFailure: (error: NodeJS.ErrnoException | undefined) => void) {}

  /** The error of the last failed write, while writes fail or lines are dropped for a full pipe. */
  get failure(): NodeJS.ErrnoException | undefined {
    return this.writeFailure;
  }

  write(line: string): boolean {
    if (this.closed) return false;

    if (this.pendingBytes > 0) {
      const data = Buffer.from(line, 'utf8');
      if (this.pendingBytes + data.length > MAX_PENDING_BYTES) {
        this.fail(pipeBehind(this.pendingBytes));
        return false;
      }
      this.pending.push(data);
      this.pendingBytes += data.length;
      this.writePending();
      return true;
    }

    const data = Buffer.from(this.midLine ? `\n${line}` : line, 'utf8');
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += this.writeSome(data, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN' && data.length <= MAX_PENDING_BYTES) {
          this.pending.push(data.subarray(offset));
          this.pendingBytes += data.length - offset;
          this.scheduleRetry();
          return true;
        }
        this.fail(error as NodeJS.ErrnoException);
        return false;
      }
    }
    this.recovered();
    return true;
  }

  /** Write what is pending, waiting up to a second for a full pipe, as a shutdown does last. */
  flushPending(): void {
    let waited = 0;
    while (!this.closed && this.writePending() && waited < CLOSE_WAIT_MS) {
      Atomics.wait(pause, 0, 0, RETRY_PAUSE_MS);
      waited += RETRY_PAUSE_MS;
    }
  }

  /** Write what is pending, then close the descriptor unless it is stdout or stderr. */
  close(): void {
    if (this.closed) return;
    this.flushPending();
    clearTimeout(this.retryTimer);
    this.closed = true;
    if (this.fd > 2) closeSync(this.fd);
  }

  /** Write part of `data` from `offset`, noting whether the bytes written end inside a line. */
  private writeSome(data: Buffer, offset: number): number {
    const written = writeSync(this.fd, data, offset);
    if (written > 0) this.midLine = data[offset + written - 1] !== 0x0a;
    return written;
  }

  /**
   * Write pending bytes until the pipe is full again. Returns true while bytes are still
   * pending that a later attempt may write, false when none are or the pipe broke.
   */
  private writePending(): boolean {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      let written: number;
      try {
        written = this.writeSome(head, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.scheduleRetry();
          return true;
        }
        // A broken pipe loses what is pending; the failure stays until a line is written.
        this.pending = [];
        this.pendingBytes = 0;
        this.fail(error as NodeJS.ErrnoException);
        return false;
      }
      this.pendingBytes -= written;
      if (written < head.length) this.pending[0] = head.subarray(written);
      else this.pending.shift();
    }
    this.recovered();
    return false;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.writePending();
    }, RETRY_PAUSE_MS);
    this.retryTimer.unref();
  }

  private recovered(): void {
    if (!this.writeFailure || this.pendingBytes > 0) return;
    this.writeFailure = undefined;
    this.onFailure(undefined);
  }

  /** Record a failure, and report it when it starts or its cause changes (a full pipe that then breaks). */
  private fail(error: NodeJS.ErrnoException): void {
    const known = this.writeFailure?.code === error.code;
    this.writeFailure = error;
    if (!known) this.onFailure(error);
  }
}

/** Build the failure of a pipe whose reader is too far behind to take another line. */
function pipeBehind(pendingBytes: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`the log reader is ${pendingBytes} bytes behind`);
  error.code = 'EAGAIN';
  return error;
}

/**
 * Open stdout for log lines. A pipe or terminal is opened again through /proc without
 * blocking, so a reader that falls behind makes lines wait in memory instead of stopping
 * every request inside a write. Only this new open file description is non-blocking; the
 * one that riskgate was started with, and that other processes may share, stays as it was.
 * A file, a socket (systemd's journal) or a system without /proc gets descriptor 1 itself.
 */
export function openStdout(): number {
  try {
    const stats = fstatSync(1);
    if (stats.isFIFO() || stats.isCharacterDevice()) {
      return openSync('/proc/self/fd/1', constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND);
    }
  } catch {
    // NOTE: a socket on stdout cannot be opened this way, so a stalled reader there still
    // stops riskgate inside a write.
  }
  return 1;
}

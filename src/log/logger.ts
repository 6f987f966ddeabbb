import pino, { type DestinationStream, type Logger } from 'pino';

import { lineSafe } from './line-stream.js';

/**
 * Paths redacted from every log line as a second line of defence. Log fields are chosen by
 * allow-list where they are built (see decision-log.ts), so none of these should ever be set.
 */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'assertion',
  'token',
];

export interface LoggerOptions {
  level: string;
  /** `stdout`, or a file path that is appended to and reopened on SIGUSR2. */
  destination: string;
}

export interface GatewayLogger {
  logger: Logger;
  /** Reopen the log file (after rotation); a no-op for stdout. */
  reopen(): void;
  flush(): void;
  /**
   * Write out every queued line, the one being written included, and close the destination
   * (stdout stays open). Resolves when that is done, or after `timeoutMs` at the latest.
   */
  close(timeoutMs: number): Promise<void>;
}

/** Create the one pino logger every module writes through, in Elastic Common Schema form. */
export function createLogger(options: LoggerOptions, stream?: DestinationStream): GatewayLogger {
  const destination =
    stream ??
    // Each line is written before the call returns, as Node writes stdout to a file or a
    // pipe on Linux. So a script that reads the log once it has a login's response finds
    // that login's decision line there.
    pino.destination({
      dest: options.destination === 'stdout' ? 1 : options.destination,
      sync: true,
      mkdir: true,
    });

  const logger = pino(
    {
      level: options.level,
      base: undefined,
      messageKey: 'message',
      timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
      formatters: {
        level: (label) => ({ log: { level: label } }),
      },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
    },
    lineSafe(destination),
  );

  const sonic = destination as {
    reopen?: () => void;
    flushSync?: () => void;
    end?: () => void;
    once?: (event: string, listener: () => void) => void;
  };
  return {
    logger,
    reopen: () => {
      if (options.destination !== 'stdout') sonic.reopen?.();
    },
    flush: () => {
      try {
        sonic.flushSync?.();
      } catch {
        // Flushing an async destination that is not ready yet throws; the data stays queued.
      }
    },
    // end() writes what a failed write left queued, then closes the destination.
    close: (timeoutMs) => new Promise<void>((resolve) => {
      if (!sonic.end || !sonic.once) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, timeoutMs);
      sonic.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        sonic.end();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    }),
  };
}

/** Log errors by name, code and message only: stack frames and causes can carry request data. */
function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) {
    // Call sites also pass a plain `{ message }` (or `{ code, message }`) they built themselves.
    if (typeof error === 'object' && error !== null && 'message' in error) {
      const { code, message } = error as { code?: unknown; message: unknown };
      return { code, message: String(message).slice(0, 500) };
    }
    return { message: String(error) };
  }
  return {
    type: error.name,
    code: (error as { code?: unknown }).code,
    message: error.message.slice(0, 500),
  };
}

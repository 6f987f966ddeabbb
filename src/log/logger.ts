import pino, { type DestinationStream, type Logger, type LoggerOptions as PinoOptions } from 'pino';

import { lineSafe } from './line-stream.js';
import { LogFile } from './log-file.js';
import { SyncDestination, openStdout } from './sync-destination.js';

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
  /**
   * Reopen the log file after rotation, or do nothing for stdout. Returns false when the
   * path cannot be opened, after logging the path and error code to the old file and stderr.
   */
  reopen(): boolean;
  flush(): void;
  /** The error of the log file's last failed write, such as ENOSPC, while its writes fail. */
  writeFailure(): NodeJS.ErrnoException | undefined;
  /**
   * Write out every queued line, the one being written included, and close the destination
   * (stdout stays open). Resolves when that is done, or after `timeoutMs` at the latest.
   */
  close(timeoutMs: number): Promise<void>;
}

/** Create the one pino logger every module writes through, in Elastic Common Schema form. */
export function createLogger(options: LoggerOptions, stream?: DestinationStream): GatewayLogger {
  const file = stream === undefined && options.destination !== 'stdout'
    ? new LogFile(options.destination, (error) => reportWriteFailure(options.level, options.destination, error))
    : undefined;
  // Each line is written before the call returns, unless a pipe's reader is behind. So a
  // script that reads the log once it has a login's response finds that login's decision
  // line there.
  const stdout = stream === undefined && file === undefined
    ? new SyncDestination(openStdout(), (error) => reportWriteFailure(options.level, 'stdout', error))
    : undefined;
  const destination = stream ?? file ?? stdout!;
  const logger = pino(pinoOptions(options.level), lineSafe(destination));

  return {
    logger,
    writeFailure: () => file?.failure ?? stdout?.failure,
    reopen: () => {
      if (!file) return true;
      const error = file.reopen();
      if (!error) return true;
      reportReopenFailure(logger, options.level, file.path, error);
      return false;
    },
    // Both destinations write each line before the logging call returns, but for what a
    // full stdout pipe keeps pending, which gets up to a second more.
    flush: () => stdout?.flushPending(),
    close: (timeoutMs) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const closed = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        if (file) {
          file.end(closed);
        } else {
          stdout?.flushPending();
          closed();
        }
      } catch {
        closed();
      }
    }),
  };
}

/** Build the pino options of the gateway logger and of the stderr line of a failed reopen. */
function pinoOptions(level: string): PinoOptions {
  return {
    level,
    base: undefined,
    messageKey: 'message',
    timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
    formatters: {
      level: (label) => ({ log: { level: label } }),
    },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
  };
}

/**
 * Log a failed reopen to the file still in use and to stderr. An operator who rotated the
 * log looks at the new path, where no file is, so stderr is where the error gets seen.
 */
function reportReopenFailure(logger: Logger, level: string, path: string, error: NodeJS.ErrnoException): void {
  const fields = { file: { path }, err: error };
  const message = `failed to reopen log file ${path} (${error.code ?? error.message}), so lines still go to the ` +
    'file open before: make the path a file the gateway user can create, then send SIGUSR2 again';
  logger.error(fields, message);
  pino(pinoOptions(level), lineSafe(pino.destination({ dest: 2, sync: true }))).error(fields, message);
}

/**
 * Tell stderr when writes to the log start to fail, and when they work again. Lines written
 * meanwhile are lost, so logins are refused until then (see GatewayContext.logWriteFailure).
 * `path` is the log file, or `stdout`.
 */
function reportWriteFailure(level: string, path: string, error: NodeJS.ErrnoException | undefined): void {
  const stderr = pino(pinoOptions(level), lineSafe(pino.destination({ dest: 2, sync: true })));
  const fields = path === 'stdout' ? {} : { file: { path } };
  const target = path === 'stdout' ? 'the log to stdout' : `the log file ${path}`;
  if (!error) {
    stderr.warn(fields, `writing ${target} works again, and logins are judged again`);
    return;
  }
  const fix = path === 'stdout'
    ? 'a closed pipe (EPIPE) does not open again, so restart riskgate with a reader on stdout, or set log.destination to a file'
    : 'free space on its disk or fix its permissions';
  stderr.error({ ...fields, err: error },
    `writing ${target} failed (${error.code ?? error.message}): logins get 503 until a line can be written again, ` +
      `since their decision lines would be lost; ${fix}`);
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

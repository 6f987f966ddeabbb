import type { GatewayLogger } from '../log/logger.js';

/** Longest wait for in-flight requests after SIGTERM before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Time after SIGTERM at which requests still waiting for the app are ended as upstream
 * faults. It leaves their logins 3 s before the deadline to write their counts and decision lines.
 */
export const SHUTDOWN_ABORT_MS = SHUTDOWN_DEADLINE_MS - 3000;

/** Maximum wait for the log destination to write out its last lines before exit. */
const LOG_CLOSE_TIMEOUT_MS = 2000;

/**
 * Install SIGTERM and SIGINT handlers that stop accepting, let in-flight requests finish
 * (up to the deadline), flush the log and exit. SIGUSR2 reopens a log file after
 * rotation, keeping the old file when the path cannot be opened. SIGHUP calls `reload`,
 * which logs its own result.
 */
export function installSignalHandlers(log: GatewayLogger, close: () => Promise<void>, reload: () => void): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.logger.info({ signal }, 'shutting down');
    const exit = (code: number) => {
      void log.close(LOG_CLOSE_TIMEOUT_MS).then(() => process.exit(code));
    };
    const deadline = setTimeout(() => {
      log.logger.warn({ deadline_ms: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline passed; exiting with requests in flight');
      // Requests still in flight may log more lines, which an ended destination would
      // reject, so this path flushes what it can and exits at once.
      log.flush();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    close()
      .then(() => {
        log.logger.info('stopped');
        exit(0);
      })
      .catch((error: unknown) => {
        log.logger.error({ err: error }, 'shutdown failed');
        exit(1);
      });
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (!stopping) reload();
  });
  process.on('SIGUSR2', () => {
    // During shutdown the destination is being closed and takes no more lines.
    if (stopping) return;
    // A failed reopen logs its own error line.
    if (log.reopen()) log.logger.info('log file reopened');
  });

  installCrashHandlers(log);
}

/**
 * Install handlers that turn an uncaught exception or unhandled rejection into one fatal
 * log line and exit 1. Node's own crash output prints every property of the error, and
 * errors such as the HTTP parser's carry the raw request (`rawPacket`) with its cookies
 * and credentials. The line contains only the error's type, code and message, through the
 * logger's error serializer.
 *
 * NOTE: a message that quotes its input (JSON.parse's does) would still be logged; riskgate
 * catches the parse errors of client data where they occur, so none should get this far.
 */
export function installCrashHandlers(log: GatewayLogger): void {
  const crash = (error: unknown, origin: string) => {
    log.logger.fatal({ err: error, riskgate: { crash: origin } }, 'riskgate crashed');
    log.flush();
    process.exit(1);
  };
  process.on('uncaughtException', (error) => crash(error, 'uncaught exception'));
  process.on('unhandledRejection', (reason) => crash(reason, 'unhandled rejection'));
}

import type { GatewayLogger } from '../log/logger.js';

/** Longest wait for in-flight requests after SIGTERM before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Install SIGTERM and SIGINT handlers that stop accepting, let in-flight requests finish
 * (up to the deadline), flush the log and exit; SIGUSR2 reopens a log file after rotation.
 */
export function installSignalHandlers(log: GatewayLogger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.logger.warn({ deadline_ms: SHUTDOWN_DEADLINE_MS }, 'shutdown deadline passed; exiting with requests in flight');
      log.flush();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    close()
      .then(() => {
        log.logger.info('stopped');
        log.flush();
        process.exit(0);
      })
      .catch((error: unknown) => {
        log.logger.error({ err: error }, 'shutdown failed');
        log.flush();
        process.exit(1);
      });
  };

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR2', () => {
    log.reopen();
    log.logger.info('log file reopened');
  });
}

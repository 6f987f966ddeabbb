import { resolve } from 'node:path';

import { loadConfigFile } from '../config/load.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../log/logger.js';
import { RedisStore } from '../store/redis.js';
import { SHUTDOWN_ABORT_MS, installSignalHandlers } from './lifecycle.js';
import { VERSION } from './version.js';

export const START_HELP = `Usage: riskgate start [--config FILE]

Run the gateway in front of the upstream app named in the config.

The gateway reloads the rule files, IP lists and config on SIGHUP, and when one of those
files changes (unless reload.watch is false). An invalid set is rejected and logged, and
the last good one keeps serving. Rules, IP lists and mode apply at once. Other changed
config keys are named in a warning and apply at the next restart.

Options:
  --config FILE   config file (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
  -h, --help      show this help

Environment:
  RISKGATE_SECRET           required: at least 32 characters; keys pseudonyms, counter keys, cookies
  RISKGATE_LISTEN           host:port to listen on (overrides listen)
  RISKGATE_UPSTREAM         upstream app URL (overrides upstream)
  RISKGATE_TRUSTED_PROXIES  comma-separated CIDRs of trusted proxies (overrides trusted_proxies)
  REDIS_URL                 redis:// or rediss:// URL; selects the Redis store (overrides store.url)
  RISKGATE_LOG_LEVEL        log level (overrides log.level)
  RISKGATE_ADMIN_LISTEN     host:port of the health, metrics and admin listener (overrides admin.listen)
  RISKGATE_ADMIN_TOKEN      bearer token of the admin API, at least 32 characters (overrides admin.token)
  RISKGATE_ADMIN_HOSTS      comma-separated names the admin listener answers in Host (overrides admin.hosts)
  RISKGATE_WEBHOOK_TOKEN    bearer token sent to webhook.url
`;

/** Run `riskgate start`; resolves once the gateway listens. */
export async function runStart(configPath: string | undefined): Promise<void> {
  const file = resolve(configPath ?? process.env.RISKGATE_CONFIG ?? 'riskgate.yaml');
  const config = loadConfigFile(file);
  const log = createLogger(config.log);

  const gateway = await startGateway(config, {
    logger: log.logger,
    logWriteFailure: log.writeFailure,
    loadConfig: () => loadConfigFile(file),
    watchFiles: true,
  });
  const ruleSet = gateway.context.rules.current;
  const primary = gateway.context.store.primary;
  log.logger.info(
    {
      service: { name: 'riskgate', version: VERSION },
      riskgate: {
        rule_set: ruleSet.version,
        rules: ruleSet.rules.length,
        store: primary.kind,
        ...(primary instanceof RedisStore ? { store_address: primary.address } : {}),
      },
      url: { full: gateway.url },
      admin: { url: gateway.admin.url, api: config.admin.token !== undefined },
      upstream: config.upstream.origin,
      config: config.source,
    },
    'riskgate started',
  );
  installSignalHandlers(log, () => gateway.close({ abortAfterMs: SHUTDOWN_ABORT_MS }), () => gateway.reload('SIGHUP'));
}

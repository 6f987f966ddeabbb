import { resolve } from 'node:path';

import { ManualEntryStore } from '../admin/manual-entries.js';
import { usesRedis } from '../config/account-risk.js';
import { loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { GatewayKeys } from '../crypto/keys.js';
import { RiskgateError } from '../errors.js';
import { openStore } from '../gateway.js';
import { createLogger } from '../log/logger.js';
import { eraseAccount } from '../profile/erasure.js';
import { exportAccount } from '../profile/privacy.js';
import { RedisStore } from '../store/redis.js';
import { ResilientStore } from '../store/resilient.js';
import { secretCheckKey, verifySecretCheck } from '../store/secret-check.js';
import type { CounterStore } from '../store/store.js';

const SECRET_HELP = `RISKGATE_SECRET must be the gateway's own, because the store keys are derived from it.
The command compares it with the check value that each running gateway keeps in the store,
and exits with status 1 when they differ. It also exits with status 1 when the store contains
no check value (no gateway has run with this store.key_prefix, or Redis lost its data and
no gateway has written the value again), because "no data found" could then also mean a
wrong secret. With --skip-secret-check it warns and goes on with the keys it derives.
`;

const FORGET_HELP = `Usage: riskgate forget USERNAME [--config FILE] [--skip-secret-check]

Erase what the configured store holds about one account: its login profile, its counter
index, every counter keyed by it (alone, with a route, or with an address or device) and
its manual block or allow entry. Prints what was deleted as JSON, in the fields that
POST /v1/accounts/erase returns (keys_deleted counts the store keys actually deleted),
and logs one audit line naming the account by pseudonym.

${SECRET_HELP}
Options:
  --config FILE         config file (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
  --skip-secret-check   go on when the store contains no secret check value
`;

const EXPORT_HELP = `Usage: riskgate export USERNAME [--config FILE] [--skip-secret-check]

Print what the configured store holds about one account as JSON (a data-subject access
request): the login profile with each value's count, last use and expiry, the account's
counters and its manual block or allow entry. Logs one audit line naming the account by
pseudonym.

${SECRET_HELP}
Options:
  --config FILE         config file (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
  --skip-secret-check   go on when the store contains no secret check value
`;

type Values = Record<string, string | boolean | undefined>;

/** Longest wait for Redis to accept the connection before the command gives up. */
const CONNECT_TIMEOUT_MS = 5000;

async function runPrivacyCommand(action: 'forget' | 'export', values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1 || positionals[0] === '') {
    throw new RiskgateError('RG_ERR_USAGE', `${action} takes exactly one USERNAME; run riskgate ${action} --help`);
  }
  const file = resolve((values.config as string | undefined) ?? process.env.RISKGATE_CONFIG ?? 'riskgate.yaml');
  const config = loadConfigFile(file);
  if (!usesRedis(config.store)) {
    throw new RiskgateError('RG_ERR_USAGE',
      `store.url is memory in ${config.source}: the data lives inside the running gateway process, ` +
        `so ${action} cannot reach it from here; use the admin API of that gateway, or a Redis store`);
  }

  // Audit lines go to stderr, so the JSON on stdout stays machine-readable.
  const log = createLogger({ level: config.log.level, destination: 'stdout' }, process.stderr);
  const keys = new GatewayKeys(config.secret);
  const store = openStore(config);
  const resilient = new ResilientStore(store, log.logger, 1);
  try {
    if (store instanceof RedisStore && !(await store.waitUntilReady(CONNECT_TIMEOUT_MS))) {
      // Redis rejects a wrong password only after it has connected, so the fix is the credentials, not the network.
      const last = store.connectionErrors.last ?? '';
      if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(last)) {
        throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE',
          `Redis refused the connection's credentials (${last.split(' ')[0]}); check the user name and password in store.url or REDIS_URL`);
      }
      throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE',
        `Redis is not reachable within ${CONNECT_TIMEOUT_MS} ms${store.connectionErrors.cause()}; check store.url`);
    }
    if (store instanceof RedisStore && (await verifySecretCheck(store, config.store.keyPrefix, keys)) === 'missing') {
      const checkKey = secretCheckKey(config.store.keyPrefix);
      if (values['skip-secret-check'] !== true) {
        throw new RiskgateError('RG_ERR_SECRET_UNVERIFIED',
          `the store contains no secret check value under ${checkKey}, so RISKGATE_SECRET cannot be confirmed and ` +
            `"no data found" could mean a wrong secret. Start a gateway with this store.key_prefix (it writes the ` +
            `value when Redis is reachable), or pass --skip-secret-check to ${action} with the keys this secret derives`);
      }
      log.logger.warn(
        { riskgate: { store: store.kind, store_key: checkKey } },
        'the store contains no secret check value, so RISKGATE_SECRET cannot be verified. The command goes on ' +
          'with the keys this secret derives, because --skip-secret-check was given',
      );
    }
    // Manual entries are changed as the admin API changes them, with retries on the entry
    // list. Their reads fail closed, so the memory fallback of this wrapper is never used.
    const manual = new ManualEntryStore(resilient, config.store.keyPrefix);
    const result = action === 'forget'
      ? await eraseAccount([store], manual, keys, config, positionals[0])
      : await exportWithEntry(store, manual, keys, config, positionals[0]);

    const found = result.data_found;
    let message = 'no stored data found for the account';
    if (found) message = action === 'forget' ? 'account data erased' : 'account data exported';
    log.logger.info(
      {
        // With nothing found, nothing was erased or exported, so the line claims no success.
        event: { kind: 'event', category: ['iam'], type: [action === 'forget' ? 'deletion' : 'access'], action: `account-${action}`,
          outcome: found ? 'success' : 'unknown' },
        user: { name: result.account.pseudonym },
        riskgate: { store: store.kind, data_found: found },
      },
      message,
    );
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    log.flush();
    await resilient.close();
  }
}

async function exportWithEntry(store: CounterStore, manual: ManualEntryStore, keys: GatewayKeys, config: GatewayConfig, username: string) {
  const exported = await exportAccount(store, keys, config, username);
  const entry = (await manual.list()).find((candidate) => candidate.id === `username:${exported.account.pseudonym}`);
  const found = exported.profile !== null || entry !== undefined || exported.counters.some((counter) => counter.value > 0);
  return { ...exported, manual_entry: entry ?? null, data_found: found };
}

export const PRIVACY_COMMANDS = {
  forget: { help: FORGET_HELP, run: (values: Values, positionals: string[]) => runPrivacyCommand('forget', values, positionals) },
  export: { help: EXPORT_HELP, run: (values: Values, positionals: string[]) => runPrivacyCommand('export', values, positionals) },
};

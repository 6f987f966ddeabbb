import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Redis } from 'ioredis';
import t from 'tap';

import { GatewayKeys } from '../../src/crypto/keys.js';
import { createLogger } from '../../src/log/logger.js';
import { RedisStore } from '../../src/store/redis.js';
import { recordSecretCheck, secretCheckKey } from '../../src/store/secret-check.js';
import { CLI, cleanEnv, writeRedisCliConfig } from '../helpers/cli.js';
import { LogCapture, REDIS_URL, TEST_SECRET, login } from '../helpers/gateway.js';
import { deleteKeysWithPrefix, listKeys } from '../helpers/redis.js';
import { RedisServer, baseArguments, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { waitForDecisions } from '../helpers/wait.js';
import { startProfileGateway } from './helpers.js';

const run = promisify(execFile);
const OTHER_SECRET = 'another-secret-0123456789abcdef0123456789ab';

interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI with `secret` and return its exit code and output, whether it failed or not. */
async function runCli(args: string[], secret: string): Promise<CliOutcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: cleanEnv({ RISKGATE_SECRET: secret }) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/** Parse the pino lines that a CLI run wrote to stderr. */
function logLines(stderr: string): Record<string, any>[] {
  return stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
}

async function readValue(key: string): Promise<string | null> {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.get(key);
  } finally {
    redis.disconnect();
  }
}

t.test('forget and export check RISKGATE_SECRET', async (t) => {
  // The commands read the time from the system clock, so the gateway must too.
  const { gateway } = await startProfileGateway(t, 'redis', Date.now);
  const prefix = gateway.config.store.keyPrefix;
  const checkKey = secretCheckKey(prefix);
  const checkValue = await readValue(checkKey);
  t.equal(checkValue, gateway.context.keys.storeCheckValue(), 'the gateway wrote the check value of its secret at start');
  t.notOk(checkValue?.includes(TEST_SECRET), 'the check value is not the secret');

  await login(gateway.port, 'alice', 'wrong-1');
  await waitForDecisions(gateway.logs, 1);
  const keysBefore = (await listKeys(prefix)).sort();

  const directory = mkdtempSync(join(tmpdir(), 'riskgate-secret-check-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = writeRedisCliConfig(directory, prefix);

  for (const action of ['forget', 'export']) {
    const mismatch = await runCli([action, 'alice', '--config', configFile], OTHER_SECRET);
    t.equal(mismatch.code, 1, `${action} with another secret exits 1`);
    t.match(mismatch.stderr, /RISKGATE_SECRET is not the secret of the gateways/, `${action} names RISKGATE_SECRET`);
    t.equal(mismatch.stdout, '', `${action} with another secret prints no result`);
    t.notOk(mismatch.stderr.includes(OTHER_SECRET), `${action} never prints the secret`);
  }
  t.same((await listKeys(prefix)).sort(), keysBefore, 'forget with another secret deleted nothing');

  const nobody = await runCli(['forget', 'nobody', '--config', configFile], TEST_SECRET);
  const nobodyAudit = logLines(nobody.stderr).pop();
  t.equal(nobody.code, 0, 'forget of an account with no data exits 0');
  t.equal(JSON.parse(nobody.stdout).data_found, false, 'the result says no data was found');
  t.equal(nobodyAudit?.message, 'no stored data found for the account');
  t.equal(nobodyAudit?.event.outcome, 'unknown', 'the audit line does not claim a successful erasure');

  const alice = await runCli(['forget', 'alice', '--config', configFile], TEST_SECRET);
  const aliceAudit = logLines(alice.stderr).pop();
  t.equal(alice.code, 0);
  t.equal(JSON.parse(alice.stdout).data_found, true, 'the result says data was found');
  t.equal(aliceAudit?.message, 'account data erased');
  t.equal(aliceAudit?.event.outcome, 'success');
  t.equal(await readValue(checkKey), checkValue, 'erasure keeps the check value');

  const emptyExport = await runCli(['export', 'alice', '--config', configFile], TEST_SECRET);
  t.equal(JSON.parse(emptyExport.stdout).data_found, false, 'an export after the erasure finds no data');
  t.equal(logLines(emptyExport.stderr).pop()?.message, 'no stored data found for the account');
});

t.test('forget and export stop without a check value', async (t) => {
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-secret-check-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = writeRedisCliConfig(directory, prefix);

  for (const action of ['forget', 'export']) {
    const unverified = await runCli([action, 'alice', '--config', configFile], OTHER_SECRET);
    t.equal(unverified.code, 1, `${action} without a check value exits 1`);
    t.equal(unverified.stdout, '', `${action} prints no result that could read as "no data found"`);
    t.match(unverified.stderr, /the store contains no secret check value under \S+:s:\{secret-check\}, so RISKGATE_SECRET cannot be confirmed/,
      `${action} says why it stopped`);
    t.match(unverified.stderr, /--skip-secret-check/, `${action} names the flag that goes on anyway`);
  }

  const result = await runCli(['forget', 'alice', '--config', configFile, '--skip-secret-check'], OTHER_SECRET);
  const warning = logLines(result.stderr).find((line) => line.log.level === 'warn');
  t.equal(result.code, 0, 'forget with --skip-secret-check runs without a check value');
  t.match(warning?.message, /the store contains no secret check value/);
  t.equal(warning?.riskgate.store_key, secretCheckKey(prefix), 'the warning names the key it looked for');
  t.equal(JSON.parse(result.stdout).data_found, false);
});

t.test('gateway start replaces a check value of another secret', async (t) => {
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const store = new RedisStore({ url: REDIS_URL, timeoutMs: 2000 });
  t.teardown(async () => {
    await store.close();
    await deleteKeysWithPrefix(prefix);
  });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', destination: 'stdout' }, logs).logger;
  const keys = new GatewayKeys(TEST_SECRET);
  t.ok(await store.waitUntilReady(5000), 'the test Redis is reachable');

  await recordSecretCheck(store, prefix, new GatewayKeys(OTHER_SECRET), logger);
  t.same(logs.lines, [], 'writing the first check value logs nothing');
  await recordSecretCheck(store, prefix, keys, logger);

  const warning = logs.lines.find((line) => line.log.level === 'warn');
  t.match(warning?.message, /written with a different RISKGATE_SECRET/, 'a gateway with another secret is reported');
  t.equal(await readValue(secretCheckKey(prefix)), keys.storeCheckValue(), 'the value of the starting gateway replaces it');
  t.notOk(logs.text.includes(keys.storeCheckValue()), 'the log line does not carry the check value');
});

t.test('a wrong Redis password is named as such, not as an unreachable Redis', { skip: missingRedisServer() }, async (t) => {
  const directory = temporaryDirectory('wrong-password');
  const redis = await RedisServer.start({ directory: directory.path, args: (port) => [...baseArguments(port), '--requirepass', 'right-password-0123'] });
  t.teardown(async () => {
    await redis.stop();
    directory.remove();
  });
  const configFile = join(directory.path, 'riskgate.yaml');
  writeFileSync(configFile, [
    'upstream: http://127.0.0.1:9',
    'challenge: { mode: forward }',
    `store: { url: "redis://:marker-wrong-password@127.0.0.1:${redis.port}/0", key_prefix: rgwrongpass }`,
    '',
  ].join('\n'));

  const result = await runCli(['forget', 'alice', '--config', configFile], TEST_SECRET);
  t.not(result.code, 0);
  t.match(result.stderr, /Redis refused the connection's credentials \(WRONGPASS\); check the user name and password in store\.url/);
  t.notMatch(result.stderr + result.stdout, /marker-wrong-password/, 'the password is not echoed');
});

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { Redis } from 'ioredis';
import t from 'tap';

import { CounterPlan } from '../../src/decision/counter-plan.js';
import { eraseAccount, exportAccount } from '../../src/profile/privacy.js';
import { FakeClock } from '../helpers/clock.js';
import { DEFAULT_RULES, PROJECT_ROOT, REDIS_URL, TEST_SECRET, login, type TestGateway } from '../helpers/gateway.js';
import { waitForDecisions } from '../helpers/wait.js';
import { STORES, deviceCookie, startProfileGateway } from './helpers.js';

const run = promisify(execFile);
const CLI = resolve(PROJECT_ROOT, 'dist/cli/main.js');

/** Two accounts from one address: alice succeeds once and fails twice, bob succeeds. */
async function populate(gateway: TestGateway): Promise<void> {
  const first = await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'alice', 'wrong-1', { headers: { cookie: deviceCookie(first) } });
  await login(gateway.port, 'alice', 'wrong-2');
  await login(gateway.port, 'bob', 'wonderland');
  await waitForDecisions(gateway.logs, 4);
}

/** Every store key that belongs to `username`: its profile, index and account-keyed counters. */
function accountKeys(gateway: TestGateway, username: string): string[] {
  const prefix = gateway.config.store.keyPrefix;
  const pseudonym = gateway.context.keys.pseudonymize(username);
  const parts = { username, ip: '127.0.0.1', ip_prefix: '127.0.0.0/24', route: gateway.config.loginRoutes[0].id };
  const counters = gateway.context.rules.current.counters.filter((counter) => counter.key.includes('username'));
  const plan = new CounterPlan(counters, parts, gateway.context.keys, prefix);
  return [`${prefix}:p:{${pseudonym}}`, `${prefix}:i:{${pseudonym}}`, ...plan.readRequest(0).counters.map((counter) => counter.key)];
}

async function scanPrefix(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  } finally {
    redis.disconnect();
  }
}

for (const store of STORES) {
  t.test(`${store}: export returns what was stored`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    await populate(gateway);

    const exported = await exportAccount(gateway.context.store.primary, gateway.context.keys, gateway.config, ' Alice ', {
      ruleSet: gateway.context.rules.current,
      now: clock.now,
    });
    const counters = Object.fromEntries(exported.counters.map((counter) => [counter.name, counter.value]));
    t.equal(exported.account.pseudonym, gateway.context.keys.pseudonymize('alice'), 'the username was normalised first');
    t.equal(exported.profile?.successes, 1);
    t.equal(exported.profile?.features.device.length, 1, 'the device of the success is on record');
    t.same(exported.profile?.features.network.map((entry) => entry.value), ['127.0.0.0/24']);
    t.equal(exported.profile?.last_location, null, 'loopback has no location');
    t.equal(counters.failures_per_account, 2);
    t.equal(counters.failures_per_account_ip, 2, 'the account-and-address counter was found through the index');
    t.notOk(JSON.stringify(exported).includes('alice'), 'the export never names the username');
  });

  t.test(`${store}: erase removes the account and nothing else`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    await populate(gateway);
    const primary = gateway.context.store.primary;
    const options = { ruleSet: gateway.context.rules.current, now: clock.now };

    const erased = await eraseAccount(primary, gateway.context.keys, gateway.config, 'alice', options);
    t.equal(erased.profile_erased, true);
    t.equal(erased.counters_erased, 2, 'both failure counters held values');

    const alice = await exportAccount(primary, gateway.context.keys, gateway.config, 'alice', options);
    const bob = await exportAccount(primary, gateway.context.keys, gateway.config, 'bob', options);
    t.equal(alice.profile, null, "alice's profile is gone");
    t.ok(alice.counters.every((counter) => counter.value === 0), "alice's counters read zero");
    t.equal(bob.profile?.successes, 1, "bob's profile is untouched");
  });
}

t.test('forget and export commands against Redis', async (t) => {
  const clock = new FakeClock();
  const { gateway } = await startProfileGateway(t, 'redis', clock.read);
  await populate(gateway);
  const prefix = gateway.config.store.keyPrefix;

  const directory = mkdtempSync(join(tmpdir(), 'riskgate-privacy-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = join(directory, 'riskgate.yaml');
  writeFileSync(configFile, [
    'upstream: http://127.0.0.1:9',
    `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
    'challenge: { mode: forward }',
    `store: { url: ${JSON.stringify(REDIS_URL)}, key_prefix: ${prefix}, timeout: 2s }`,
    '',
  ].join('\n'));
  const env = { ...process.env, RISKGATE_SECRET: TEST_SECRET };
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', configFile], { env });

  const exported = await cli('export', 'alice');
  const document = JSON.parse(exported.stdout);
  const exportAudit = JSON.parse(exported.stderr.trim().split('\n').pop()!);
  t.equal(document.profile.successes, 1, 'export prints the stored profile');
  t.equal(exportAudit.message, 'account data exported');
  t.equal(exportAudit.user.name, gateway.context.keys.pseudonymize('alice'), 'the audit line names the pseudonym');
  t.notOk(exported.stderr.includes('alice'), 'the audit line never names the username');

  const before = await scanPrefix(prefix);
  const aliceKeys = accountKeys(gateway, 'alice');
  const bobKeys = accountKeys(gateway, 'bob');
  t.ok(before.some((key) => key.startsWith(aliceKeys[0])), "alice's profile is stored before forget");
  t.ok(before.some((key) => key.startsWith(aliceKeys[1])), "alice's counter index is stored before forget");

  const forgotten = await cli('forget', 'alice');
  const result = JSON.parse(forgotten.stdout);
  const forgetAudit = JSON.parse(forgotten.stderr.trim().split('\n').pop()!);
  t.equal(result.profile_erased, true);
  t.equal(forgetAudit.message, 'account data erased');
  t.notOk(forgotten.stderr.includes('alice'), 'the audit line never names the username');

  const after = await scanPrefix(prefix);
  const pseudonym = gateway.context.keys.pseudonymize('alice');
  t.same(after.filter((key) => key.includes(pseudonym)), [], 'no key names alice');
  t.same(after.filter((key) => aliceKeys.some((prefixKey) => key.startsWith(prefixKey))), [], "no key of alice's counters is left");
  t.ok(after.some((key) => key.startsWith(bobKeys[0])), "bob's profile is still there");
  t.ok(after.some((key) => key.startsWith(`${prefix}:c:{usernames_per_ip:`)), 'shared address counters are still there');
});

t.test('forget refuses the memory store', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-privacy-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = join(directory, 'riskgate.yaml');
  writeFileSync(configFile, `upstream: http://127.0.0.1:9\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`);
  const failure = await run(process.execPath, [CLI, 'forget', 'alice', '--config', configFile], {
    env: { ...process.env, RISKGATE_SECRET: TEST_SECRET },
  }).catch((error: { code: number; stderr: string }) => error);

  t.equal((failure as { code: number }).code, 1);
  t.match((failure as { stderr: string }).stderr, /store\.url is memory/);
});

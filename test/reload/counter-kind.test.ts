import t from 'tap';

import { login } from '../helpers/gateway.js';
import { listKeys } from '../helpers/redis.js';
import { ManualEntryStore } from '../../src/admin/manual-entries.js';
import { eraseAccount } from '../../src/profile/erasure.js';
import { exportAccount } from '../../src/profile/privacy.js';
import { startRedisReloadingGateway, waitForReload } from './helpers.js';

/** Build a rule set with one counter of the given kind and key, and a rule that reads it. */
function policy(kind: string, keyedBy = 'ip'): string {
  return `thresholds: { challenge_at: 50, block_at: 100 }
counters:
  - { name: per_source, key: [${keyedBy}], count: ${kind}, window: 10m }
rules:
  - id: busy-source
    description: Many logins or usernames from one source
    when: counters.per_source > 1000
    score: 60
`;
}

// Attempts and failures are both stored as counts, so only a change to or from a distinct
// count changes how a key is stored.
const CHANGES = [
  ['attempts', 'distinct_usernames'],
  ['failures', 'distinct_usernames'],
  ['distinct_usernames', 'attempts'],
  ['distinct_usernames', 'failures'],
];

for (const [from, to] of CHANGES) {
  t.test(`reload from ${from} to ${to} on Redis`, async (t) => {
    const { prefix, tree, gateway } = await startRedisReloadingGateway(t, policy(from));

    t.equal((await login(gateway.port, 'alice', 'wrong')).status, 401, 'the app rejects the first login');
    t.equal((await login(gateway.port, 'alice', 'wonderland')).status, 200, 'the second login reaches the app');
    t.ok((await listKeys(prefix)).some((key) => key.includes(':c:{per_source:')), 'the counter has a live key');

    tree.replace('rules/policy.yaml', policy(to));
    await waitForReload(gateway.logs, 'success', 1);

    t.equal((await login(gateway.port, 'alice', 'wonderland')).status, 200, 'a login after the reload is answered normally');
    t.equal((await login(gateway.port, 'bob', 'wrong')).status, 401, 'a failed login after the reload is answered normally');
    t.notOk(gateway.logs.lines.some((line) => line.log?.level === 'error'), 'no error is logged');
  });
}

t.test('export and erase find keys of a former kind', async (t) => {
  const { prefix, tree, gateway } = await startRedisReloadingGateway(t, policy('failures', 'username'));

  await login(gateway.port, 'alice', 'wrong');
  tree.replace('rules/policy.yaml', policy('attempts', 'username'));
  await waitForReload(gateway.logs, 'success', 1);
  await login(gateway.port, 'alice', 'wonderland');

  const { store, keys, config } = gateway.context;
  const ruleSet = gateway.context.rules.current;
  const exported = await exportAccount(store.primary, keys, config, 'alice', { ruleSet });
  const values = exported.counters.filter((counter) => counter.name === 'per_source').map((counter) => counter.value);
  t.same(values.sort(), [1, 1], 'the export lists the counter under both kinds');

  await eraseAccount([store.primary], new ManualEntryStore(store, prefix), keys, config, 'alice', { ruleSet });
  const left = (await listKeys(prefix)).filter((key) => key.includes(':c:{per_source:'));
  t.same(left, [], 'erasure deletes the keys of both kinds');
});

t.test('export and erase find counters of a removed rule', async (t) => {
  const removed = policy('failures', 'username').replaceAll('per_source', 'per_account');
  const { prefix, tree, gateway } = await startRedisReloadingGateway(t, removed);

  await login(gateway.port, 'alice', 'wrong');
  t.ok((await listKeys(prefix)).some((key) => key.includes(':c:{per_account:')), 'the account counter has a key');
  // The reload drops the counter, so the rules in force no longer name it.
  tree.replace('rules/policy.yaml', policy('attempts', 'ip'));
  await waitForReload(gateway.logs, 'success', 1);

  const { store, keys, config } = gateway.context;
  const ruleSet = gateway.context.rules.current;
  const exported = await exportAccount(store.primary, keys, config, 'alice', { ruleSet });
  t.same(exported.counters.filter((counter) => counter.name === 'per_account').map((counter) => counter.value), [1],
    'the export lists the removed counter');

  await eraseAccount([store.primary], new ManualEntryStore(store, prefix), keys, config, 'alice', { ruleSet });
  t.same((await listKeys(prefix)).filter((key) => key.includes(':c:{per_account:')), [], 'erasure deletes its keys');
});

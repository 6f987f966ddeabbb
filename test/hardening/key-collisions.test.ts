import t, { type Test } from 'tap';

import { login, startTestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { counterKeys, listKeys } from './redis-keys.js';

async function setUp(t: Test) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    store: 'redis',
    config: { trusted_proxies: ['127.0.0.1/32'] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
  });
  return { upstream, gateway };
}

t.test('address and account parts never run into each other', async (t) => {
  const { gateway } = await setUp(t);

  for (let index = 0; index < 4; index += 1) {
    await login(gateway.port, '1alice', `guess-${index}`, { headers: { 'x-forwarded-for': '192.0.2.1' } });
  }
  await login(gateway.port, 'alice', 'wrong', { headers: { 'x-forwarded-for': '192.0.2.11' } });
  const decisions = await waitForDecisions(gateway.logs, 5);

  const victim = decisions[4].riskgate.counters;
  t.equal(decisions[3].riskgate.counters.failures_per_account_ip, 3, 'the attacker builds up its own counter');
  t.equal(victim.failures_per_account_ip, 0, '192.0.2.1 + 1alice is not 192.0.2.11 + alice');
  t.equal(victim.failures_per_account, 0, '1alice is not alice');
  t.equal(victim.failures_per_ip, 0, '192.0.2.1 is not 192.0.2.11');
});

t.test('hostile usernames get distinct bounded keys', async (t) => {
  const { gateway } = await setUp(t);
  const prefix = gateway.config.store.keyPrefix;
  const names = [
    // Zero-width characters are removed from account names, so each of those below is a
    // name no other entry has.
    'a:b', 'a', 'a:', ':a', 'a\u2063b', 'b\u200d', 'a|b', 'a/b', '*', 'a*', '{', '}', '{a}', 'a}{', '{failures_per_account:',
    '?', '[a-z]', '\\', 'a b', 'c\td', 'e\u200bf', '\u2603', `${prefix}:c:{x}`, 'x'.repeat(10_000), `${'x'.repeat(10_000)}y`,
  ];

  for (const [index, name] of names.entries()) {
    await login(gateway.port, name, 'wrong', { headers: { 'x-forwarded-for': `198.51.100.${index + 1}` } });
  }
  await waitForDecisions(gateway.logs, names.length);
  const stored = await listKeys(prefix);

  const accountKeys = counterKeys(stored, 'failures_per_account');
  t.equal(accountKeys.length, names.length, 'one distinct account counter per username');
  t.equal(counterKeys(stored, 'failures_per_account_ip').length, names.length, 'one distinct account-address counter per pair');
  const longest = Math.max(...stored.map((key) => key.length));
  t.ok(longest <= prefix.length + 64, `every key is bounded (longest ${longest} characters)`);
  for (const key of stored) {
    t.match(key, /^[A-Za-z0-9_-]+:[a-z]+:\{[A-Za-z0-9_:-]+\}(:\d+|:gateway:[0-9a-f]+|:epoch)?$/, `key ${key.slice(0, 80)} has only safe characters`);
  }
});

t.test('counters over the same parts have their own keys', async (t) => {
  const { gateway } = await setUp(t);

  await login(gateway.port, 'alice', 'wrong', { headers: { 'x-forwarded-for': '203.0.113.7' } });
  await waitForDecisions(gateway.logs, 1);
  const stored = await listKeys(gateway.config.store.keyPrefix);

  const digests = ['failures_per_ip', 'usernames_per_ip', 'attempts_per_ip'].map((name) => {
    const [key] = counterKeys(stored, name);
    return key?.slice(key.indexOf(`{${name}:`) + name.length + 2, -1);
  });
  t.equal(digests.filter(Boolean).length, 3, 'each address counter was written');
  t.equal(new Set(digests).size, 3, 'the same address gets a different digest in each counter');
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Redis } from 'ioredis';
import t, { type Test } from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { login, startTestGateway } from '../helpers/gateway.js';
import { RedisMonitor, deleteKeysWithPrefix, redisStoreOf, type MonitoredCommand } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const KINDS = ['attempts', 'failures', 'distinct_usernames'] as const;
const KEYS = ['[ip]', '[username]', '[ip_prefix]', '[fingerprint]', '[username, ip]', '[route]'];

/** Write a rule file declaring `count` counters of mixed kinds and keys, and one rule. */
function ruleDirectory(t: Test, count: number): string {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-rules-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const counters = Array.from({ length: count }, (_, index) =>
    [
      `  - name: c${index}`,
      `    key: ${KEYS[index % KEYS.length]}`,
      `    count: ${KINDS[index % KINDS.length]}`,
      `    window: ${index + 1}m`,
    ].join('\n'),
  );
  const text = [
    'counters:',
    ...counters,
    'rules:',
    '  - id: test.never',
    '    description: Never fires',
    '    when: counters.c0 < 0',
    '    score: 1',
    '',
  ].join('\n');
  writeFileSync(join(directory, 'counters.yaml'), text);
  return directory;
}

async function setup(t: Test, rules?: string) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    store: 'redis',
    clock: new FakeClock().read,
    config: rules ? { rules: [rules] } : {},
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
  });
  return { upstream, gateway };
}

/** List the keys a monitored command names: a script's first key, or every argument otherwise. */
function keysOf(command: MonitoredCommand): string[] {
  return command.name === 'eval' || command.name === 'evalsha' ? [command.args[2]] : command.args;
}

for (const counters of [1, 7, 18]) {
  t.test(`one round trip each way with ${counters} counters`, async (t) => {
    const { gateway } = await setup(t, ruleDirectory(t, counters));
    const store = gateway.context.store.primary;

    for (let index = 0; index < 3; index += 1) {
      const before = store.roundTrips;
      const reply = await login(gateway.port, index === 1 ? 'alice' : `user${index}`, index === 1 ? 'wonderland' : 'x');
      await waitForDecisions(gateway.logs, index + 1);
      t.equal(reply.status, index === 1 ? 200 : 401);
      t.equal(store.roundTrips - before, 2, `login ${index}: one read and one write`);
    }
    t.equal(gateway.logs.decisions[0].riskgate.store, 'redis', 'the Redis store judged the logins');
    t.equal(Object.keys(gateway.logs.decisions[0].riskgate.counters).length, counters, 'every counter was read');
  });
}

t.test('round trips with the default rules', async (t) => {
  const { gateway } = await setup(t);
  const store = gateway.context.store.primary;

  const outcomes: [string, string, string][] = [
    ['failure', 'alice', 'wrong'],
    ['success', 'alice', 'wonderland'],
  ];
  for (const [index, [name, username, password]] of outcomes.entries()) {
    const before = store.roundTrips;
    await login(gateway.port, username, password);
    await waitForDecisions(gateway.logs, index + 1);
    t.equal(store.roundTrips - before, 2, `${name}: one read and one write`);
  }
});

t.test('Redis sees the planned commands only', async (t) => {
  const { upstream, gateway } = await setup(t);
  const store = redisStoreOf(gateway);
  // The shared test Redis is standalone, so the client is a plain Redis connection.
  const { stream } = store.client as Redis;
  const source = `${stream.localAddress}:${stream.localPort}`;
  const monitor = await new RedisMonitor(source).start();
  t.teardown(() => monitor.stop());
  // A first login loads the scripts, so the counted logins send EVALSHA alone.
  await login(gateway.port, 'warm-up', 'x', { source: '127.0.0.9' });
  await waitForDecisions(gateway.logs, 1);
  await store.client.echo('riskgate-monitor-ready');
  await monitor.waitForMarker('riskgate-monitor-ready');
  monitor.commands.length = 0;

  const reply = await login(gateway.port, 'alice', 'wrong');
  await waitForDecisions(gateway.logs, 2);
  await store.client.echo('riskgate-monitor-failure');
  await monitor.waitForMarker('riskgate-monitor-failure');
  const failure = monitor.commands.splice(0).filter((command) => command.name !== 'echo');

  t.equal(reply.status, 401);
  t.equal(upstream.logins.length, 2);
  const prefix = `${gateway.config.store.keyPrefix}:`;
  for (const command of failure) {
    t.ok(keysOf(command)[0]?.startsWith(prefix), `${command.name} stays in the key prefix`);
    t.notOk(['script', 'multi', 'exec', 'watch'].includes(command.name), `${command.name} is a data command`);
  }
  // Default rules: 10 counters. The 6 that count pending logins are each read with their
  // mark in one script. The 2 failure counters of the address and the fingerprint take one
  // MGET each, and the 2 counts of accounts signed in, which no pending login adds to, two
  // PFCOUNTs each (the current bucket, and both).
  const counters = failure.filter((command) => keysOf(command).some((key) => key.startsWith(`${prefix}c:`)));
  const reads = counters.slice(0, 12);
  const writes = counters.slice(12);
  t.equal(reads.filter((command) => command.name === 'evalsha').length, 6, 'six reads with a pending mark');
  t.equal(reads.filter((command) => command.name === 'mget').length, 2, 'two MGETs');
  t.equal(reads.filter((command) => command.name === 'pfcount').length, 4, 'four PFCOUNTs');
  // The failure adds an attempt, four failures, one unsuccessful login and two distinct
  // usernames: eight scripts, six of which also release the login's mark.
  t.equal(writes.length, 8, 'eight counter writes');
  t.ok(writes.every((command) => command.name === 'evalsha'), 'each a script');
  const marks = failure.filter((command) => keysOf(command).some((key) => key.startsWith(`${prefix}w:`)));
  t.same(marks, [], 'no mark command of its own: each rides with its counter');

  await login(gateway.port, 'alice', 'wonderland');
  await waitForDecisions(gateway.logs, 3);
  await store.client.echo('riskgate-monitor-success');
  await monitor.waitForMarker('riskgate-monitor-success');
  const success = monitor.commands
    .splice(0)
    .filter((command) => keysOf(command).some((key) => key.startsWith(`${prefix}c:`)));

  t.equal(success.length, 12 + 6, 'twelve reads, then an attempt, two distinct usernames, two signed-in accounts and one reset');
  t.equal(success.filter((command) => command.name === 'del').length, 1, 'the success clears the account-address streak');
});

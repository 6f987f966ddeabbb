import t from 'tap';

import { InFlightLogins } from '../../src/proxy/in-flight.js';
import type { CounterDefinition } from '../../src/rules/types.js';

function counter(name: string, key: CounterDefinition['key'], count: CounterDefinition['count']): CounterDefinition {
  return { name, key, count, windowMs: 60_000, file: 'rules.yaml', line: 1 };
}

const ENTRIES = [
  { counter: counter('attempts_per_ip', ['ip'], 'attempts'), key: 'a:192.0.2.1' },
  { counter: counter('failures_per_account', ['username'], 'failures'), key: 'f:alice' },
  { counter: counter('failures_per_ip', ['ip'], 'failures'), key: 'f:192.0.2.1' },
];

t.test('pending logins count until their write is sent', async (t) => {
  const registry = new InFlightLogins();
  const first = registry.begin(ENTRIES);
  const second = registry.begin(ENTRIES);

  t.same(first.extra(), [1, 1, 0], 'each sees the other, and address-only failures are left out');
  t.same(second.extra(), [1, 1, 0]);

  first.release();
  t.same(second.extra(), [0, 0, 0], 'a login whose write was sent is left to the store read');
});

t.test('a login never counts itself', async (t) => {
  const registry = new InFlightLogins();
  const only = registry.begin(ENTRIES);

  t.same(only.extra(), [0, 0, 0]);
  only.release();
  only.release();
  t.equal(registry.size, 0, 'releasing twice leaves no mark behind');
});

t.test('pending accounts count once each on distinct counters', async (t) => {
  const registry = new InFlightLogins();
  const distinct = [{ counter: counter('usernames_per_ip', ['ip'], 'distinct_usernames'), key: 'u:192.0.2.1' }];
  const alice = registry.begin(distinct, 'alice');
  const aliceAgain = registry.begin(distinct, 'alice');
  const bob = registry.begin(distinct, 'bob');
  const carol = registry.begin(distinct, 'carol');

  t.same(alice.extra(), [2], 'bob and carol, not alice herself');
  t.same(bob.extra(), [2], 'alice once, however many of her logins are pending');
  alice.release();
  t.same(bob.extra(), [2], "alice's other login is still pending");
  aliceAgain.release();
  t.same(bob.extra(), [1], 'only carol is left');
  carol.release();
  bob.release();
  t.equal(registry.size, 0);
});

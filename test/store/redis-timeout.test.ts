import t from 'tap';

import { RedisStore } from '../../src/store/redis.js';
import { REDIS_URL } from '../helpers/gateway.js';

/** Keep the event loop busy, as a gateway under load is, for `ms` milliseconds. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Spin: nothing else in this process runs meanwhile.
  }
}

t.test('a reply that came in time is not a timeout', async (t) => {
  const store = new RedisStore({ url: REDIS_URL, timeoutMs: 20 });
  t.teardown(() => store.close());
  t.ok(await store.waitUntilReady(2000), 'Redis is reachable');

  for (let round = 0; round < 5; round += 1) {
    // Redis answers within a millisecond, but the process is busy past the timeout, so
    // the reply is still unread in the socket when the timer falls due.
    const reading = store.read({ now: Date.now(), counters: [], claims: [], lookups: ['riskgate-test:absent'] });
    busyFor(60);
    const result = await reading;
    t.same(result.values, [null], `round ${round}: the reply is used`);
  }
});

t.test('a second round trip after a stall is no timeout', async (t) => {
  // The timeout leaves room for a loaded machine's Redis to reply to the second PING.
  const store = new RedisStore({ url: REDIS_URL, timeoutMs: 60 });
  t.teardown(() => store.close());
  t.ok(await store.waitUntilReady(2000), 'Redis is reachable');
  const client = (store as unknown as { client: { ping(): Promise<string> } }).client;

  for (let round = 0; round < 5; round += 1) {
    // Auto-pipelining sends each PING on a later turn, and the second only once the reply
    // to the first has arrived. The process is busy past the timeout before the first goes out,
    // as when it reads large bodies, so the second goes out after the timer fell due.
    const call = store.bounded(client.ping().then(() => client.ping()));
    busyFor(180);
    t.equal(await call, 'PONG', `round ${round}: both replies are used`);
  }
});

t.test('a reply that never comes is a timeout', async (t) => {
  const store = new RedisStore({ url: REDIS_URL, timeoutMs: 20 });
  t.teardown(() => store.close());
  t.ok(await store.waitUntilReady(2000), 'Redis is reachable');

  // CLIENT PAUSE would stop the shared server for every other test, so the reply is held
  // back by a blocking command on this store's own connection instead.
  const blocked = (store as unknown as { client: { blpop(key: string, seconds: number): Promise<unknown> } }).client
    .blpop('riskgate-test:never-pushed', 1).catch(() => undefined);
  // Single commands are auto-pipelined on the next tick; let it go out first.
  await new Promise((resolve) => setImmediate(resolve));
  await t.rejects(store.read({ now: Date.now(), counters: [], claims: [], lookups: ['riskgate-test:absent'] }),
    { code: 'RG_ERR_STORE_TIMEOUT' });
  await blocked;
});

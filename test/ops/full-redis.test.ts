import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import t from 'tap';

import { login, startTestGateway } from '../helpers/gateway.js';
import { RedisServer, baseArguments, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';

// A Redis full under noeviction serves reads and rejects writes. Reads alone must not end
// the outage that the rejected writes started, or no failure would ever be counted.
t.test('a full Redis that refuses writes is an outage', { skip: missingRedisServer() }, async (t) => {
  const directory = temporaryDirectory('full');
  const redis = await RedisServer.start({
    directory: directory.path,
    args: (port) => [...baseArguments(port), '--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'],
  });
  const upstream = await new RecordingUpstream().start();
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: {
      store: { url: `redis://127.0.0.1:${redis.port}/0`, key_prefix: prefix, timeout: '500ms' },
      login_routes: [{ id: 'web', path: '/login', on_store_error: 'open' }],
    },
  });
  const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  t.teardown(async () => {
    await gateway.close();
    client.disconnect();
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  await client.connect();
  // Large values first, then small ones, until even a small write is refused.
  for (const size of [100_000, 1000, 10]) {
    for (let index = 0; index < 5000; index += 1) {
      const refused = await client.set(`filler:${size}:${index}`, 'x'.repeat(size)).then(() => false, () => true);
      if (refused) break;
    }
  }
  t.equal(await client.set('filler:check', '1').then(() => 'stored', () => 'refused'), 'refused', 'Redis is full');
  for (let index = 0; index < 3; index += 1) {
    await login(gateway.port, 'alice', `guess-${index}`, { source: `127.0.0.${70 + index}` });
    // Past the second in which a failed store is skipped, so each login tries Redis again.
    await sleep(1100);
  }
  const decisions = await waitForDecisions(gateway.logs, 3);

  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2],
    'each failure is counted, by the fallback once Redis refused the first write');
  t.same(decisions.slice(1).map((line) => line.riskgate.store), ['memory-fallback', 'memory-fallback']);
  t.ok(gateway.logs.lines.some((line) => line.message === 'store outage started'), 'the outage is logged');
  t.notOk(gateway.logs.lines.some((line) => line.message === 'store outage ended'), 'reads alone do not end it');

  // Room again in this test's own server: the next fallback login's write reaches Redis.
  await client.flushall();
  await login(gateway.port, 'alice', 'guess-3', { source: '127.0.0.73' });
  await waitFor(() => gateway.logs.lines.some((line) => line.message === 'store outage ended'), 'the end of the outage');
  await login(gateway.port, 'alice', 'guess-4', { source: '127.0.0.74' });
  const after = await waitForDecisions(gateway.logs, 5);

  t.equal(after[3].riskgate.store, 'memory-fallback', 'the login whose write ended the outage was judged by the fallback');
  t.equal(after[4].riskgate.store, 'redis', 'and Redis judges the next login');
});

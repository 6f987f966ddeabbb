import pino from 'pino';
import t from 'tap';

import { RedisStore } from '../../src/store/redis.js';
import { ResilientStore } from '../../src/store/resilient.js';
import { LogCapture } from '../helpers/gateway.js';
import { RedisServer, baseArguments, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';

// Under load, a call can time out while the next one succeeds: a write of a login judged
// before the timeout, or a read already in flight. That success ends the outage, so later
// logins must read Redis again, not the fallback that the end just emptied.
t.test('the call that ends an outage sends the next reads back to Redis', { skip: missingRedisServer() }, async (t) => {
  const directory = temporaryDirectory('outage-end');
  const redis = await RedisServer.start({ directory: directory.path, args: baseArguments });
  const logs = new LogCapture();
  const primary = new RedisStore({ url: `redis://127.0.0.1:${redis.port}/0`, timeoutMs: 100 });
  const store = new ResilientStore(primary, pino({ level: 'info' }, logs), 1000);
  t.teardown(async () => {
    await store.close();
    await redis.stop();
    directory.remove();
  });
  await primary.waitUntilReady(2000);
  const request = { now: Date.now(), counters: [{ key: 'rgtest:c:{outage-end}', windowMs: 60_000, kind: 'count' as const }], claims: [] };
  const write = { now: Date.now(), increments: [{ key: 'rgtest:c:{outage-end}', windowMs: 60_000 }], distinct: [], resets: [] };

  t.equal((await store.read(request, 'open')).source, 'redis', 'Redis answers');
  redis.pause();
  t.equal((await store.read(request, 'open')).source, 'memory-fallback', 'a timed-out read is judged by the fallback');
  redis.resume();
  await store.write(write, 'redis');
  t.ok(logs.lines.some((line) => line.msg === 'store outage ended'), 'the successful write ends the outage');

  t.equal((await store.read(request, 'open')).source, 'redis', 'the next read goes to Redis at once');
});

import t from 'tap';

import { freePort } from '../helpers/cli.js';
import { REDIS_URL, login, startTestGateway } from '../helpers/gateway.js';
import { RedisServer, baseArguments, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';

t.test('first login after start is judged by Redis', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, store: 'redis' });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await login(gateway.port, 'alice', 'wonderland');

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.store, 'redis', 'no fallback while Redis was still connecting');
  t.equal(gateway.logs.lines.filter((entry) => entry.message === 'store outage started').length, 0, 'no outage');
});

for (const [mode, status] of [['open', 200], ['closed', 503]] as const) {
  t.test(`unreachable Redis at start fails ${mode}`, async (t) => {
    const upstream = await new RecordingUpstream().start();
    const gateway = await startTestGateway({
      upstream: upstream.url,
      config: {
        store: { url: `redis://127.0.0.1:${await freePort()}`, timeout: '100ms' },
        login_routes: [{ path: '/login', on_store_error: mode }],
      },
    });
    t.teardown(async () => {
      await gateway.close();
      await upstream.stop();
    });

    const reply = await login(gateway.port, 'alice', 'wonderland');

    t.equal(reply.status, status);
    const warning = gateway.logs.lines.find((entry) => entry.message.startsWith('Redis is not reachable at start'));
    t.equal(warning?.log.level, 'warn', 'the start says Redis is not reachable');
    await waitFor(() => gateway.logs.lines.some((entry) => entry.message === 'store outage started'), 'the outage line');
    const outage = gateway.logs.lines.find((entry) => entry.message === 'store outage started')!;
    t.notMatch(outage.err.message, /\[object Object\]/, 'the outage line says what failed');
    t.match(outage.err.message, /Redis/);
    if (mode === 'open') {
      const [line] = await waitForDecisions(gateway.logs, 1);
      t.equal(line.riskgate.store, 'memory-fallback', 'judged by the memory fallback');
    } else {
      t.equal(reply.headers['retry-after'], '5');
      t.equal(upstream.logins.length, 0, 'nothing unjudged reached the app');
    }
  });
}

t.test('a Redis that refuses the password at start is named as such', { skip: missingRedisServer() }, async (t) => {
  const directory = temporaryDirectory('start-wrong-password');
  const redis = await RedisServer.start({ directory: directory.path, args: (port) => [...baseArguments(port), '--requirepass', 'right-password-0123'] });
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: `redis://:marker-wrong-password@127.0.0.1:${redis.port}/0`, timeout: '100ms' } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  const line = gateway.logs.lines.find((entry) => entry.message.startsWith('Redis refused the credentials'));
  t.equal(line?.log.level, 'error', 'the start names the refused credentials as an error');
  t.match(line?.err.message, /^WRONGPASS/);
  t.notOk(gateway.logs.text.includes('marker-wrong-password'), 'the password is not logged');
});

t.test('a database the Redis server lacks is named at start', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const url = new URL(REDIS_URL);
  url.pathname = '/99';
  const gateway = await startTestGateway({ upstream: upstream.url, config: { store: { url: url.href } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const line = gateway.logs.lines.find((entry) => /^Redis has no database 99/.test(entry.message));
  t.equal(line?.log.level, 'error', 'the start says the database is missing');
  t.same(line?.riskgate.database, { wanted: 99, actual: 0 });

  const good = new URL(REDIS_URL);
  good.pathname = '/5';
  const other = await startTestGateway({ upstream: upstream.url, config: { store: { url: good.href } } });
  t.teardown(() => other.close());
  t.notOk(other.logs.lines.some((entry) => /^Redis has no database/.test(entry.message)), 'a database the server has passes');
});

import { randomBytes } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';

import { generateKeyPair } from 'jose';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';

import { parseMetrics } from '../admin/client.js';
import { login, send, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RedisServer, baseArguments, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { signAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import type { RedisStore } from '../../src/store/redis.js';
import { secretCheckKey } from '../../src/store/secret-check.js';

const STEP_UP_HEADER = 'riskgate-step-up';
/** Loopback ports this test may run its private Redis on. */
const PORTS = Array.from({ length: 50 }, (_, index) => 7800 + index);
/** Maximum wait for the loss line: the client's reconnect delay or one check interval, with slack. */
const DETECTION_MS = 10_000;
const LOSS_MESSAGE = /^risk store lost its data/;

const skip = missingRedisServer();

function lossLines(gateway: TestGateway): Record<string, any>[] {
  return gateway.logs.lines.filter((line) => LOSS_MESSAGE.test(line.message));
}

async function lossMetric(gateway: TestGateway): Promise<number | undefined> {
  return parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body).get('riskgate_store_data_losses_total');
}

/** The private Redis of one test, which the test may restart, with a gateway and a client on it. */
interface PrivateStore {
  redis: RedisServer;
  directory: { path: string };
  upstream: RecordingUpstream;
  gateway: TestGateway;
  client: Redis;
}

/** Start a private Redis, a gateway on it and a client of its own; the teardown stops them all. */
async function startPrivateStore(t: Test, clock?: () => number, dataLossCheckMs?: number): Promise<PrivateStore> {
  const directory = temporaryDirectory('data-loss');
  const args = (port: number) => [...baseArguments(port), '--pidfile', join(directory.path, 'redis.pid')];
  const redis = await RedisServer.start({ directory: directory.path, args, ports: PORTS });
  const upstream = await new RecordingUpstream({ alice: 'wonderland' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    ...(clock ? { clock } : {}),
    ...(dataLossCheckMs ? { dataLossCheckMs } : {}),
    config: { store: { url: `redis://127.0.0.1:${redis.port}/0`, key_prefix: `rgt${randomBytes(4).toString('hex')}`, timeout: '300ms' } },
  });
  const client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  const store = { redis, directory, upstream, gateway, client };
  t.teardown(async () => {
    store.client.disconnect();
    await gateway.close();
    await upstream.stop();
    await store.redis.stop();
    directory.remove();
  });
  return store;
}

/**
 * Wait for a store outage to end. The write of the last login may still have been running
 * when Redis stopped. Its failure starts an outage, in which logins skip the store for a
 * second at a time and pass no assertion, so logins after that second end it first.
 */
async function endOutage(gateway: TestGateway): Promise<void> {
  for (let attempt = 0; gateway.context.store.inOutage && attempt < 10; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await login(gateway.port, 'bob', 'builder');
  }
}

/** Sign one assertion for alice, and return a function that logs in with it and reads the decision. */
async function assertionPresenter({ gateway, upstream }: PrivateStore) {
  const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize('alice'));
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId, nowMs: Date.now() });
  return async () => {
    const decisions = gateway.logs.decisions.length;
    const forwards = upstream.logins.length;
    await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
    await waitFor(() => gateway.logs.decisions.length > decisions, 'the decision line');
    return { stepUp: gateway.logs.decisions.at(-1)!.riskgate.step_up, forwarded: upstream.logins.length - forwards };
  };
}

t.test('Redis restart without persistence is detected', { skip }, async (t) => {
  // The clock can be moved ahead, to issue an assertion after the clock tolerance of the loss.
  let offsetMs = 0;
  const store = await startPrivateStore(t, () => Date.now() + offsetMs);
  const { gateway, upstream, client } = store;

  const checkKey = secretCheckKey(gateway.config.store.keyPrefix);
  const checkValue = gateway.context.keys.storeCheckValue();
  // Absent without the watch, so that the checks below fail instead of throwing.
  const markerKey = gateway.context.dataLoss?.markerKey ?? 'no-marker';
  t.equal(await client.get(checkKey), checkValue, 'the gateway wrote the secret check value at start');
  t.equal(await client.exists(markerKey), 1, 'and its marker key');

  const present = async (assertion: string) => {
    const forwards = upstream.logins.length;
    const decisions = gateway.logs.decisions.length;
    const reply = await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
    await waitFor(() => gateway.logs.decisions.length > decisions, 'the decision line');
    return { status: reply.status, forwarded: upstream.logins.length - forwards, stepUp: gateway.logs.decisions.at(-1)!.riskgate.step_up };
  };
  const assertionNow = async () => {
    const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize('alice'));
    return signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId, nowMs: gateway.context.clock() });
  };

  const used = await assertionNow();
  t.same((await present(used)).stepUp, { ok: true }, 'the assertion passes once');
  t.same((await present(used)).stepUp, { ok: false, reason: 'replay' }, 'and is rejected as a replay before the restart');
  t.same(lossLines(gateway), [], 'no loss is reported while Redis keeps its data');

  // As a restart without persistence: the process is killed and a new one starts empty.
  await store.redis.stop();
  store.redis = await store.redis.restart();
  await waitFor(() => lossLines(gateway).length > 0, 'the data loss line', DETECTION_MS).catch((error) => t.fail(error.message));
  // The line is logged before the writes, so joining the running check waits for them.
  await gateway.context.dataLoss?.check();

  const [line] = lossLines(gateway);
  t.equal(lossLines(gateway).length, 1, 'one line for the loss, however often it is checked since');
  t.equal(line?.log.level, 'error');
  t.match(line?.message, /used step-up assertions would pass again, manual block and allow entries are gone/, 'the line says what is lost');
  t.same(line?.riskgate.lost, ['step-up claims', 'manual entries', 'counters', 'profiles']);
  t.equal(await client.get(checkKey), checkValue, 'the secret check value is written again');
  t.equal(await client.exists(markerKey), 1, 'and the marker key');
  t.equal(await lossMetric(gateway), 1, 'the loss is counted in the metric');

  await endOutage(gateway);
  t.notOk(gateway.context.store.inOutage, 'no store outage remains');

  const replayed = await present(used);
  t.same(replayed.stepUp, { ok: false, reason: 'issued_before_store_loss' }, 'the used assertion is rejected after the loss');
  t.equal(replayed.status, 401, 'the replay is challenged');
  t.equal(replayed.forwarded, 0, 'and not forwarded');

  offsetMs = 6000;
  t.same((await present(await assertionNow())).stepUp, { ok: true }, 'an assertion issued after the loss passes');

  // A flush leaves the connection up, so only the periodic check can notice it.
  await client.flushall();
  await waitFor(() => lossLines(gateway).length > 1, 'a second data loss line', DETECTION_MS).catch((error) => t.fail(error.message));
  // The line is logged before the writes, so joining the running check waits for them.
  await gateway.context.dataLoss?.check();
  t.equal(lossLines(gateway).length, 2, 'the flush is reported once too');
  t.equal(await client.get(checkKey), checkValue, 'and the secret check value written again');
  t.equal(await lossMetric(gateway), 2);
});

t.test('an assertion replayed right after a flush is rejected', { skip }, async (t) => {
  const store = await startPrivateStore(t);
  const { gateway, client } = store;
  const present = await assertionPresenter(store);

  await gateway.context.dataLoss?.check();
  t.same((await present()).stepUp, { ok: true }, 'the assertion passes once');

  // The replay comes before the next periodic check, which runs every 5 s.
  await client.flushall();
  const replayed = await present();
  t.same(replayed.stepUp, { ok: false, reason: 'issued_before_store_loss' }, 'the login that finds a marker gone rejects it');
  t.equal(replayed.forwarded, 0, 'and it is not forwarded');
  await waitFor(() => lossLines(gateway).length === 1, 'the data loss line', DETECTION_MS).catch((error) => t.fail(error.message));
});

t.test('a check value written with another secret is written back', { skip }, async (t) => {
  const { gateway, client } = await startPrivateStore(t);
  const checkKey = secretCheckKey(gateway.config.store.keyPrefix);
  const checkValue = gateway.context.keys.storeCheckValue();

  // As a gateway started for a moment with another RISKGATE_SECRET would leave it.
  await client.set(checkKey, 'written-with-another-secret');
  await gateway.context.dataLoss?.check();

  t.equal(await client.get(checkKey), checkValue, 'the running gateway restores its value');
  const warnings = gateway.logs.lines.filter((line) => /written with a different RISKGATE_SECRET/.test(line.message));
  t.equal(warnings.length, 1, 'and warns once');
  t.same(lossLines(gateway), [], 'it is no data loss');
});

t.test('first connection after start is no loss', { skip }, async (t) => {
  const directory = temporaryDirectory('data-loss');
  const args = (port: number) => [...baseArguments(port), '--pidfile', join(directory.path, 'redis.pid')];
  // Started and stopped only to find a port of the range that is free.
  let redis = await RedisServer.start({ directory: directory.path, args, ports: PORTS });
  await redis.stop();
  const upstream = await new RecordingUpstream({ alice: 'wonderland' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: `redis://127.0.0.1:${redis.port}/0`, key_prefix: `rgt${randomBytes(4).toString('hex')}`, timeout: '300ms' } },
  });
  redis = await redis.restart();
  const client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  t.teardown(async () => {
    client.disconnect();
    await gateway.close();
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  const checkKey = secretCheckKey(gateway.config.store.keyPrefix);
  await waitFor(async () => (await client.get(checkKey)) !== null, 'the secret check value', DETECTION_MS);
  await gateway.context.dataLoss?.check();
  t.equal(await client.get(checkKey), gateway.context.keys.storeCheckValue(), 'the gateway wrote the check value once connected');
  t.equal(await client.exists(gateway.context.dataLoss?.markerKey ?? 'no-marker'), 1, 'and its marker key');
  t.ok(gateway.logs.lines.some((line) => /^Redis is not reachable at start/.test(line.message)), 'the start said Redis was not reachable');
  t.same(lossLines(gateway), [], 'a first connection is no loss');
});

t.test('restored snapshot is detected', { skip }, async (t) => {
  const store = await startPrivateStore(t);
  const { gateway, client, directory } = store;

  const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize('alice'));
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId, nowMs: Date.now() });
  const present = async () => {
    const decisions = gateway.logs.decisions.length;
    await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
    await waitFor(() => gateway.logs.decisions.length > decisions, 'the decision line');
    return gateway.logs.decisions.at(-1)!.riskgate.step_up;
  };

  // The snapshot is taken before the assertion is used, and checks run after it.
  await client.save();
  copyFileSync(join(directory.path, 'dump.rdb'), join(directory.path, 'snapshot.rdb'));
  await gateway.context.dataLoss?.check();
  t.same(await present(), { ok: true }, 'the assertion passes once');
  await gateway.context.dataLoss?.check();
  t.same(lossLines(gateway), [], 'no loss is reported while Redis keeps its data');

  // Redis is stopped and started again from the older snapshot, which has the marker key
  // and the secret check value but not the used assertion's claim.
  client.disconnect();
  await store.redis.stop();
  copyFileSync(join(directory.path, 'snapshot.rdb'), join(directory.path, 'dump.rdb'));
  store.redis = await store.redis.restart();
  await waitFor(() => lossLines(gateway).length > 0, 'the data loss line', DETECTION_MS).catch((error) => t.fail(error.message));

  t.equal(lossLines(gateway)[0]?.riskgate.marker, 'older', 'the marker holds an older count');
  t.match(lossLines(gateway)[0]?.message, /a restored snapshot/);
  t.same(await present(), { ok: false, reason: 'issued_before_store_loss' }, 'the used assertion is not accepted again');
});

/**
 * Start a private store with no periodic check, so that only a restart can reveal a
 * snapshot, then take a snapshot after a check and use one assertion after it. The snapshot
 * contains the current marker count but not the assertion's claim. Returns the store, the
 * presenter of that assertion, and a function that restarts Redis from the snapshot, as
 * after a crash with RDB persistence.
 */
async function useAfterRecentSnapshot(t: Test) {
  const store = await startPrivateStore(t, undefined, 10 * 60_000);
  const { gateway, client, directory } = store;
  const present = await assertionPresenter(store);

  await gateway.context.dataLoss?.check();
  await client.save();
  copyFileSync(join(directory.path, 'dump.rdb'), join(directory.path, 'snapshot.rdb'));
  t.same(await present(), { stepUp: { ok: true }, forwarded: 1 }, 'the assertion passes once');

  const restoreSnapshot = async () => {
    client.disconnect();
    await store.redis.stop();
    copyFileSync(join(directory.path, 'snapshot.rdb'), join(directory.path, 'dump.rdb'));
    store.redis = await store.redis.restart();
  };
  return { store, gateway, present, restoreSnapshot };
}

t.test('restart from a recent snapshot detected', { skip }, async (t) => {
  const { gateway, present, restoreSnapshot } = await useAfterRecentSnapshot(t);

  await restoreSnapshot();
  const restarted = () => gateway.logs.lines.filter((line) => line.riskgate?.server === 'restarted');
  await waitFor(() => restarted().length > 0, 'the restart line', DETECTION_MS).catch((error) => t.fail(error.message));

  t.equal(restarted()[0]?.log.level, 'warn', 'the restart is a warning');
  t.match(restarted()[0]?.message, /^Redis redis restarted: it may hold an earlier state/);
  t.same(lossLines(gateway), [], 'the markers held the current count, so no loss line');
  await endOutage(gateway);
  t.same(await present(), { stepUp: { ok: false, reason: 'issued_before_store_loss' }, forwarded: 0 },
    'the used assertion is not accepted again');
});

t.test('replay racing the restart check rejected', { skip }, async (t) => {
  const { gateway, present, restoreSnapshot } = await useAfterRecentSnapshot(t);

  // The watch stops before the restart, so its reconnect check never runs: only the login
  // itself can notice the new server.
  gateway.context.dataLoss?.stop();
  await restoreSnapshot();
  await waitFor(() => (gateway.context.store.primary as RedisStore).client.status === 'ready', 'the reconnect', DETECTION_MS);
  await endOutage(gateway);

  t.same(await present(), { stepUp: { ok: false, reason: 'issued_before_store_loss' }, forwarded: 0 },
    'the replay is rejected by the login that found the restart');
});

/**
 * Start a private Redis that the test may restart, and an app. The gateways the test starts
 * on them share one step-up key pair, and the teardown stops them all.
 */
async function startFleet(t: Test) {
  const directory = temporaryDirectory('data-loss');
  const args = (port: number) => [...baseArguments(port), '--pidfile', join(directory.path, 'redis.pid')];
  const fleet = {
    redis: await RedisServer.start({ directory: directory.path, args, ports: PORTS }),
    upstream: await new RecordingUpstream({ alice: 'wonderland' }).start(),
    gateways: [] as TestGateway[],
  };
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  t.teardown(async () => {
    for (const gateway of fleet.gateways) await gateway.close();
    await fleet.upstream.stop();
    await fleet.redis.stop();
    directory.remove();
  });

  /** Start a gateway whose clock runs `offsetMs` ahead, as if started that much later. */
  const start = async (offsetMs = 0) => {
    const gateway = await startTestGateway({
      upstream: fleet.upstream.url,
      stepUpKey: publicKey,
      clock: () => Date.now() + offsetMs,
      config: { store: { url: `redis://127.0.0.1:${fleet.redis.port}/0`, key_prefix: prefix, timeout: '300ms' } },
    });
    fleet.gateways.push(gateway);
    return gateway;
  };
  const stop = async (gateway: TestGateway) => {
    fleet.gateways.splice(fleet.gateways.indexOf(gateway), 1);
    await gateway.close();
  };
  const assertionFrom = async (gateway: TestGateway) => {
    const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize('alice'));
    return signAssertion(privateKey, { subject: 'alice', challengeId, nowMs: gateway.context.clock() });
  };
  const present = async (gateway: TestGateway, assertion: string) => {
    const decisions = gateway.logs.decisions.length;
    await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
    await waitFor(() => gateway.logs.decisions.length > decisions, 'the decision line');
    return gateway.logs.decisions.at(-1)!.riskgate.step_up;
  };
  return { fleet, start, stop, assertionFrom, present };
}

t.test('gateways restarted with an empty Redis reject a replay', { skip }, async (t) => {
  const { fleet, start, stop, assertionFrom, present } = await startFleet(t);
  const before = await start();
  const used = [await assertionFrom(before), await assertionFrom(before)];
  t.same(await present(before, used[0]), { ok: true }, 'one assertion passes');
  t.same(await present(before, used[1]), { ok: true }, 'and another');

  // The whole deployment restarts, in two seconds, and Redis comes back empty. No running
  // gateway notices the loss, and the first to start finds no secret check value, as on a
  // first deployment.
  await stop(before);
  await fleet.redis.stop();
  fleet.redis = await fleet.redis.restart();
  const first = await start(2000);
  const second = await start(2000);

  t.same(await present(first, used[0]), { ok: false, reason: 'issued_before_store_loss' },
    'the first gateway started rejects one');
  t.same(await present(second, used[1]), { ok: false, reason: 'issued_before_store_loss' },
    'the second, which found the secret check value, rejects the other');
  t.equal(fleet.upstream.logins.length, 2, 'no replay reached the app');
  t.same(await present(second, await assertionFrom(second)), { ok: true }, 'an assertion for a new challenge passes');
});

t.test('a loss one gateway noticed holds on a gateway started since', { skip }, async (t) => {
  const { fleet, start, assertionFrom, present } = await startFleet(t);
  const running = await start();
  const used = await assertionFrom(running);
  t.same(await present(running, used), { ok: true }, 'the assertion passes once');

  const client = new Redis(fleet.redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  t.teardown(() => client.disconnect());
  await client.flushall();
  await running.context.dataLoss?.check();
  t.equal(lossLines(running).length, 1, 'the running gateway notices the flush');

  // A gateway started since finds the secret check value written again, so only the
  // store's epoch records the loss for it.
  const later = await start();
  t.same(lossLines(later), [], 'the later gateway sees no loss of its own');
  t.same(await present(later, used), { ok: false, reason: 'issued_before_store_loss' }, 'and still rejects the replay');
  t.equal(fleet.upstream.logins.length, 1, 'which does not reach the app');
});

t.test('an assertion whose claim Redis evicted is rejected', { skip }, async (t) => {
  const store = await startPrivateStore(t);
  const { gateway, client } = store;
  const present = await assertionPresenter(store);
  await gateway.context.dataLoss?.check();
  t.same((await present()).stepUp, { ok: true }, 'the assertion passes once');
  const [claimKey] = await client.keys(`${gateway.config.store.keyPrefix}:jti:*`);
  t.ok(claimKey, 'its single-use claim is stored');

  // Under volatile-ttl, Redis evicts the keys nearest their expiry first: the claim, not the
  // markers, which live a day.
  const used = Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1]);
  await client.config('SET', 'maxmemory-policy', 'volatile-ttl');
  await client.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
  const filler = 'x'.repeat(10_000);
  for (let batch = 0; batch < 100 && (await client.exists(claimKey ?? 'no-claim')) === 1; batch += 1) {
    const pipeline = client.pipeline();
    for (let index = 0; index < 50; index += 1) pipeline.set(`filler:${batch}:${index}`, filler, 'EX', 3600);
    await pipeline.exec();
  }
  t.equal(await client.exists(claimKey ?? 'no-claim'), 0, 'Redis evicted the claim');
  t.equal(await client.exists(gateway.context.dataLoss?.markerKey ?? 'no-marker'), 1, 'and kept the marker');

  const replayed = await present();
  t.same(replayed.stepUp, { ok: false, reason: 'issued_before_store_loss' }, 'the replay is rejected');
  t.equal(replayed.forwarded, 0, 'and not forwarded');
  const [line] = lossLines(gateway);
  t.equal(line?.riskgate.marker, 'evicted', 'the loss line names the eviction');
  t.ok(line?.riskgate.evicted_keys > 0, 'and how many keys went');
});

t.test('an evicting Redis is named at start', { skip }, async (t) => {
  const directory = temporaryDirectory('data-loss');
  const args = (port: number) => [...baseArguments(port), '--pidfile', join(directory.path, 'redis.pid'),
    '--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'];
  const redis = await RedisServer.start({ directory: directory.path, args, ports: PORTS });
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: `redis://127.0.0.1:${redis.port}/0`, key_prefix: `rgt${randomBytes(4).toString('hex')}`, timeout: '300ms' } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  await gateway.context.dataLoss?.check();
  const lines = gateway.logs.lines.filter((line) => /evicts keys when full/.test(line.message ?? ''));
  t.equal(lines.length, 1, 'one line names the policy');
  t.equal(lines[0]?.log.level, 'error');
  t.equal(lines[0]?.riskgate.maxmemory_policy, 'allkeys-lru');
  t.match(lines[0]?.message, /Set maxmemory-policy noeviction/, 'the line says the fix');
});

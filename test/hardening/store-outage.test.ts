import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import t, { type Test } from 'tap';

import { login, startTestGateway, type Reply, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { signAssertion } from '../helpers/step-up.js';
import { ADMIN_TOKEN, admin } from '../admin/client.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { RedisLink } from './redis-link.js';

// Generous enough that a round trip on a loaded machine does not count as an outage.
const STORE_TIMEOUT_MS = 250;
const STEP_UP_HEADER = 'Riskgate-Step-Up';
/** Maximum response time during the outage: the store timeout plus the app's time and slack. */
const RESPONSE_BOUND_MS = 1000;

// A rejection the gateway leaves unhandled would surface here, in the same process.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

async function setUp(t: Test, failMode: 'open' | 'closed', extra: Record<string, unknown> = {}) {
  const link = await new RedisLink().start();
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const upstream = await new RecordingUpstream({ alice: 'wonderland', bob: 'builder' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: {
      store: { url: link.url, key_prefix: prefix, timeout: `${STORE_TIMEOUT_MS}ms` },
      login_routes: [{ id: 'web', path: '/login', on_store_error: failMode }],
      ...extra,
    },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await link.stop();
    await deleteKeysWithPrefix(prefix);
  });
  return { link, upstream, gateway };
}

/** Send a login and measure its response time. */
async function timedLogin(gateway: TestGateway, username: string, password: string): Promise<{ reply: Reply; ms: number }> {
  const started = performance.now();
  const reply = await login(gateway.port, username, password);
  return { reply, ms: performance.now() - started };
}

function outageLines(gateway: TestGateway, message: string) {
  return gateway.logs.lines.filter((line) => line.message === message);
}

/** Log in as bob until Redis judges his login again, which it does once the client has reconnected. */
async function waitForRecovery(t: Test, gateway: TestGateway): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const before = gateway.logs.decisions.length;
    const { reply } = await timedLogin(gateway, 'bob', 'builder');
    if (reply.status === 200) {
      const [line] = (await waitForDecisions(gateway.logs, before + 1)).slice(before);
      if (line.riskgate.store === 'redis') break;
    }
    if (Date.now() > deadline) throw new Error('Redis did not judge a login within 10 s of its return');
    await sleep(250);
  }
  await waitFor(() => outageLines(gateway, 'store outage ended').length > 0, 'the outage end line');
  t.pass('logins are judged by Redis again');
}

t.test('store outage under fail-closed answers 503', async (t) => {
  const { link, upstream, gateway } = await setUp(t, 'closed');
  for (let index = 0; index < 3; index += 1) {
    t.equal((await login(gateway.port, 'alice', `guess-${index}`)).status, 401, `failure ${index} before the outage`);
  }

  // As when Redis dies: its connections close and new ones are refused.
  await link.cut();
  const during = [await timedLogin(gateway, 'bob', 'builder')];
  for (let index = 0; index < 10; index += 1) during.push(await timedLogin(gateway, 'alice', `guess-${index + 3}`));

  for (const [index, { reply, ms }] of during.entries()) {
    t.equal(reply.status, 503, `login ${index} during the outage: 503`);
    t.equal(reply.json().title, 'risk store unavailable', `login ${index}: the body says why`);
    t.equal(reply.headers['retry-after'], '5', `login ${index}: the client is told when to retry`);
    t.ok(ms < RESPONSE_BOUND_MS, `login ${index} answered in ${ms.toFixed(0)} ms`);
  }
  t.equal(upstream.logins.length, 3, 'no login reached the app unjudged');
  const rejected = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'risk store unavailable');
  t.equal(rejected.length, 11, 'each refused login is logged with the reason');
  t.equal(outageLines(gateway, 'store outage started').length, 1, 'one line when the outage starts');
  t.equal(outageLines(gateway, 'store outage started')[0].log.level, 'error');

  await link.restore();
  await waitForRecovery(t, gateway);
  t.equal(outageLines(gateway, 'store outage started').length, 1, 'still one start line');
  t.equal(outageLines(gateway, 'store outage ended').length, 1, 'one line when the outage ends');
  t.same(unhandled, [], 'no unhandled rejection');
});

t.test('store outage under fail-open still stops alice at her limit', async (t) => {
  const { link, upstream, gateway } = await setUp(t, 'open');
  for (let index = 0; index < 3; index += 1) {
    t.equal((await login(gateway.port, 'alice', `guess-${index}`)).status, 401, `failure ${index} before the outage`);
  }
  await waitForDecisions(gateway.logs, 3);

  // As when Redis hangs: connections stay open and no reply comes, so only the store
  // timeout bounds each call.
  link.freeze();
  const bob = await timedLogin(gateway, 'bob', 'builder');
  const alice: { reply: Reply; ms: number }[] = [];
  for (let index = 0; index < 10; index += 1) alice.push(await timedLogin(gateway, 'alice', `guess-${index + 3}`));

  t.equal(bob.reply.status, 200, 'a good login passes during the outage');
  t.ok(bob.ms < RESPONSE_BOUND_MS, `bob answered in ${bob.ms.toFixed(0)} ms`);
  for (const [index, { ms }] of alice.entries()) {
    t.ok(ms < RESPONSE_BOUND_MS, `alice's failure ${index} answered in ${ms.toFixed(0)} ms`);
  }
  const decisions = (await waitForDecisions(gateway.logs, 14)).slice(3);
  t.ok(decisions.every((line) => line.riskgate.store === 'memory-fallback'), 'every outage login was judged by the memory fallback');
  const forwarded = upstream.logins.filter((received) => received.username === 'alice').length - 3;
  // NOTE: the fallback starts empty, so the failures counted before the outage are not in it.
  t.ok(forwarded <= 5, `at most her limit of five failures reached the app during the outage (${forwarded})`);
  t.ok(alice.slice(5).every(({ reply }) => reply.json().challenge?.id), 'the logins past her limit are challenged');
  t.same(decisions.slice(6).map((line) => line.riskgate.decision), Array(5).fill('challenge'));
  t.equal(outageLines(gateway, 'store outage started').length, 1, 'one line when the outage starts');

  await link.restore();
  await waitForRecovery(t, gateway);
  t.equal(outageLines(gateway, 'store outage started').length, 1, 'still one start line');
  t.equal(outageLines(gateway, 'store outage ended').length, 1, 'one line when the outage ends');
  t.same(unhandled, [], 'no unhandled rejection');

  // The next outage starts from an empty fallback, not from what the last one learned.
  link.freeze();
  const before = gateway.logs.decisions.length;
  await timedLogin(gateway, 'alice', 'guess-next');
  const [next] = (await waitForDecisions(gateway.logs, before + 1)).slice(before);
  t.equal(next.riskgate.store, 'memory-fallback');
  t.equal(next.riskgate.counters.failures_per_account, 0, 'the last outage\'s failures are gone');
  t.equal(next.riskgate.decision, 'allow');
  await link.restore();
  await waitForRecovery(t, gateway);
});

t.test('no step-up assertion is accepted during an outage', async (t) => {
  const { link, upstream, gateway } = await setUp(t, 'open');
  const key = gateway.stepUpSigningKey!;
  for (let index = 0; index < 5; index += 1) await login(gateway.port, 'alice', `guess-${index}`);
  const challenged = await login(gateway.port, 'alice', 'wonderland');
  const challengeId = challenged.json().challenge.id;
  const assertion = await signAssertion(key, { subject: 'alice', challengeId, nowMs: Date.now() });
  t.equal((await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } })).status, 200,
    'the assertion passes once while Redis answers');

  // The fallback store never saw the assertion's jti claimed in Redis, so it could not
  // refuse a replay; no assertion passes until Redis answers again.
  link.freeze();
  const fresh = await signAssertion(key, { subject: 'alice', challengeId, nowMs: Date.now() });
  const before = upstream.logins.length;
  const replayed = await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
  const unused = await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: fresh } });

  t.equal(replayed.status, 401, 'the used assertion is refused');
  t.equal(unused.status, 401, 'an unused one is refused too');
  t.equal(upstream.logins.length, before, 'neither login reached the app');
  const lines = (await waitForDecisions(gateway.logs, 9)).slice(7);
  t.same(lines.map((line) => line.riskgate.store), ['memory-fallback', 'memory-fallback']);
  t.same(lines.map((line) => line.riskgate.step_up), [
    { ok: false, reason: 'store_unavailable' },
    { ok: false, reason: 'store_unavailable' },
  ], 'the decision lines say why');
  await link.restore();
});

t.test('a manual block added before an outage holds on an instance that saw no login since', async (t) => {
  const { link, upstream, gateway } = await setUp(t, 'open', { admin: { token: ADMIN_TOKEN } });
  // A 50 ms interval replaces the default, so the test need not wait 5 seconds.
  gateway.context.manual.startRefresh(50, Date.now);
  const body = { action: 'block', username: 'mallory', ttl: '1h', reason: 'account takeover' };
  t.equal((await admin(gateway.adminPort, 'POST', '/v1/manual-entries', { body })).status, 201, 'entry added');
  await sleep(300);

  link.freeze();
  const mallory = await login(gateway.port, 'mallory', 'wonderland');
  t.equal(mallory.status, 403, 'the account blocked before the outage stays blocked');
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.store, 'memory-fallback', 'the login was judged during the outage');
  t.equal(line.riskgate.manual, 'block', 'the decision line names the entry');
  t.equal(upstream.logins.length, 0, 'nothing reached the app');
  await link.restore();
});

t.test('manual blocks hold through an outage', async (t) => {
  const { link, upstream, gateway } = await setUp(t, 'open', { admin: { token: ADMIN_TOKEN } });
  const entries = [
    { action: 'block', username: 'mallory', ttl: '1h', reason: 'account takeover' },
    { action: 'block', ip: '127.0.0.9', ttl: '1h', reason: 'credential stuffing' },
  ];
  for (const body of entries) {
    t.equal((await admin(gateway.adminPort, 'POST', '/v1/manual-entries', { body })).status, 201, `${body.reason} entry added`);
  }
  // One login while Redis answers, so this instance caches the entry list.
  t.equal((await login(gateway.port, 'bob', 'builder')).status, 200);

  link.freeze();
  const mallory = await login(gateway.port, 'mallory', 'wonderland');
  const fromBlocked = await login(gateway.port, 'bob', 'builder', { source: '127.0.0.9' });
  const bob = await login(gateway.port, 'bob', 'builder');

  t.equal(mallory.status, 403, 'the blocked account stays blocked');
  t.equal(fromBlocked.status, 403, 'the blocked address stays blocked');
  t.equal(bob.status, 200, 'others are judged as usual');
  const lines = (await waitForDecisions(gateway.logs, 4)).slice(1);
  t.same(lines.map((line) => line.riskgate.store), ['memory-fallback', 'memory-fallback', 'memory-fallback']);
  t.same(lines.map((line) => line.riskgate.manual ?? null), ['block', 'block', null], 'the decision lines name the entries');
  t.equal(upstream.logins.filter((received) => received.username === 'mallory').length, 0, 'mallory never reached the app');
  await link.restore();
});

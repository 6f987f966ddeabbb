import { randomBytes } from 'node:crypto';

import t from 'tap';

import { BROWSER_HEADERS, REDIS_URL, login, send, startTestGateway } from '../helpers/gateway.js';
import { FakeClock } from '../helpers/clock.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { signAssertion } from '../helpers/step-up.js';
import { ATTACKER, ATTEMPTS, OWNER, checkBlocked, checkSharedBlock, stuff } from '../helpers/stuffing.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

for (const store of ['memory', 'redis'] as const) {
  t.test(`credential stuffing is blocked (${store})`, async (t) => {
    const clock = new FakeClock();
    const upstream = await new RecordingUpstream().start();
    const gateway = await startTestGateway({ upstream: upstream.url, store, clock: clock.read });
    t.teardown(async () => {
      await gateway.close();
      await upstream.stop();
      if (store === 'redis') await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
    });

    const attempts = await stuff([gateway], upstream);

    const firstBlocked = checkBlocked(t, attempts);
    t.equal(attempts[firstBlocked].status, 429, 'a rate block answers 429');
    const challenged = attempts.slice(0, firstBlocked).filter((attempt) => attempt.status === 401 && !attempt.forwarded);
    t.ok(challenged.length > 0, 'attempts before the block were stepped up first');

    const owner = await login(gateway.port, 'alice', 'wonderland', { source: OWNER });
    t.equal(owner.status, 200, 'alice from another address still logs in');
    t.equal(upstream.logins.at(-1)?.username, 'alice', "alice's login reached the app");

    const decisions = await waitForDecisions(gateway.logs, ATTEMPTS + 1);
    const blockLine = decisions[firstBlocked];
    t.equal(blockLine.riskgate.decision, 'block');
    t.ok(blockLine.rule.name.includes('stuffing.usernames-per-ip'), 'the stuffing rule fired');
    t.equal(blockLine.source.ip, ATTACKER);
    t.equal(decisions[ATTEMPTS].riskgate.decision, 'allow', "alice's login was allowed");
    t.equal(decisions.filter((line) => line.riskgate.store !== store).length, 0, `every login was judged by the ${store} store`);
  });
}

t.test('two gateways on one Redis share counts', async (t) => {
  const clock = new FakeClock();
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const storeConfig = { store: { url: REDIS_URL, key_prefix: prefix, timeout: '200ms' } };
  const upstream = await new RecordingUpstream().start();
  const first = await startTestGateway({ upstream: upstream.url, clock: clock.read, config: storeConfig });
  const second = await startTestGateway({ upstream: upstream.url, clock: clock.read, config: storeConfig });
  t.teardown(async () => {
    await first.close();
    await second.close();
    await upstream.stop();
    await deleteKeysWithPrefix(prefix);
  });

  const attempts = await stuff([first, second], upstream);

  await checkSharedBlock(t, [first, second], attempts);

  const owner = await login(second.port, 'alice', 'wonderland', { source: OWNER });
  t.equal(owner.status, 200, 'alice from another address still logs in');
});

for (const store of ['memory', 'redis'] as const) {
  t.test(`shared address sign-ins not blocked (${store})`, async (t) => {
    const upstream = await new RecordingUpstream().start();
    const gateway = await startTestGateway({ upstream: upstream.url, store, clock: new FakeClock().read });
    t.teardown(async () => {
      await gateway.close();
      await upstream.stop();
      if (store === 'redis') await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
    });

    // An office behind one address: twenty colleagues sign in with their own passwords.
    const statuses: number[] = [];
    for (let index = 0; index < 20; index += 1) {
      statuses.push((await login(gateway.port, `colleague${index}@example.com`, 'wonderland', { source: ATTACKER })).status);
    }
    const decisions = await waitForDecisions(gateway.logs, 20);

    t.same(statuses, Array(20).fill(200), 'every colleague signs in');
    const { usernames_per_ip: tried, signed_in_per_ip: signedIn } = decisions[19].riskgate.counters;
    t.equal(tried - signedIn, 0, 'every account tried from the address signed in from it');
  });
}

t.test('shared address after step-up not blocked', async (t) => {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, clock: clock.read });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // An attacker elsewhere fails five passwords on each colleague's account, so each is
  // challenged. Then each colleague signs in from the office address with the step-up.
  const statuses: number[] = [];
  for (let person = 0; person < 12; person += 1) {
    const username = `colleague${person}@example.com`;
    for (let guess = 0; guess < 5; guess += 1) {
      await login(gateway.port, username, `guess-${guess}`, { source: `127.0.${person + 10}.${guess + 1}` });
    }
    const challenged = await login(gateway.port, username, 'wonderland', { source: ATTACKER });
    t.equal(challenged.status, 401, `colleague ${person} is challenged`);
    const assertion = await signAssertion(gateway.stepUpSigningKey!, {
      subject: username, challengeId: challenged.json().challenge.id, nowMs: clock.now,
    });
    statuses.push((await login(gateway.port, username, 'wonderland', { source: ATTACKER, headers: { 'riskgate-step-up': assertion } })).status);
  }

  t.same(statuses, Array(12).fill(200), 'every colleague signs in after the step-up');
});

t.test('password-only guesses blocked per address', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // The password step of an identifier-first login: the app reads the account from its session.
  const guess = (index: number) => send(gateway.port, {
    method: 'POST', path: '/login', source: '127.0.0.5',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' }, body: JSON.stringify({ password: `guess-${index}` }),
  });

  const statuses: number[] = [];
  for (let index = 0; index < 12; index += 1) statuses.push((await guess(index)).status);
  const named = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.5' });

  t.same(statuses, [...Array(10).fill(401), 429, 429], 'the eleventh guess is blocked');
  t.equal(upstream.logins.length, 11, 'ten guesses and the named login reached the app');
  t.equal(named.status, 200, 'a login that names its account from that address is judged on its own');
  const decisions = await waitForDecisions(gateway.logs, 13);
  t.same(decisions[10].rule.name, ['bruteforce.password-only-failures']);
});

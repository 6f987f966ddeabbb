import { randomBytes } from 'node:crypto';

import t from 'tap';

import { REDIS_URL, login, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { FakeClock } from '../helpers/clock.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const ATTEMPTS = 40;
const ATTACKER = '127.0.0.2';
const OWNER = '127.0.0.3';

interface Attempt {
  status: number;
  forwarded: boolean;
}

/** Try one username per attempt from the attacker's address, spreading over the gateways. */
async function stuff(gateways: TestGateway[], upstream: RecordingUpstream): Promise<Attempt[]> {
  const attempts: Attempt[] = [];
  for (let index = 0; index < ATTEMPTS; index += 1) {
    const gateway = gateways[index % gateways.length];
    const before = upstream.logins.length;
    const reply = await login(gateway.port, `victim${index}@example.com`, 'Summer2024!', { source: ATTACKER });
    attempts.push({ status: reply.status, forwarded: upstream.logins.length > before });
  }
  return attempts;
}

function checkBlocked(t: Tap, attempts: Attempt[]): number {
  const firstBlocked = attempts.findIndex((attempt) => attempt.status === 403 || attempt.status === 429);
  t.ok(firstBlocked !== -1, 'the attack was blocked');
  t.ok(firstBlocked <= 12, `first block at attempt ${firstBlocked}, at most 12`);
  const later = attempts.slice(firstBlocked);
  t.equal(later.filter((attempt) => attempt.status !== 403 && attempt.status !== 429).length, 0, 'every later attempt is blocked');
  t.equal(later.filter((attempt) => attempt.forwarded).length, 0, 'no blocked attempt reached the app');
  return firstBlocked;
}

type Tap = typeof t;

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

  const firstBlocked = checkBlocked(t, attempts);
  // Each gateway alone judged about half the usernames, under the block's threshold of 10.
  const judgedByEach = Math.ceil((firstBlocked + 1) / 2);
  t.ok(judgedByEach < 10, `each gateway had judged ${judgedByEach} usernames when the block came`);
  const blocker = firstBlocked % 2 === 0 ? first : second;
  const lines = await waitForDecisions(blocker.logs, Math.floor(firstBlocked / 2) + 1);
  const blockLine = lines[Math.floor(firstBlocked / 2)];
  t.equal(blockLine.riskgate.decision, 'block');
  t.ok(blockLine.riskgate.counters.usernames_per_ip >= 10, 'the block read the combined count');
  for (const gateway of [first, second]) {
    t.equal(gateway.logs.decisions.filter((line) => line.riskgate.store !== 'redis').length, 0, 'judged by Redis, no fallback');
  }

  const owner = await login(second.port, 'alice', 'wonderland', { source: OWNER });
  t.equal(owner.status, 200, 'alice from another address still logs in');
});

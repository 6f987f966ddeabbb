import { Redis } from 'ioredis';
import t, { type Test } from 'tap';

import { profileKey } from '../../src/profile/keys.js';
import { login, REDIS_URL, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { signAssertion, signAssertionWithExpText, type AssertionClaims } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

const STEP_UP_HEADER = 'riskgate-step-up';
const USERS = { alice: 'wonderland', bob: 'builder', mallory: 'mallory-pass', '\u00e1lice': 'look-alike-pass' };
const STORES = ['memory', 'redis'] as const;

interface Harness {
  gateway: TestGateway;
  upstream: RecordingUpstream;
}

async function setUp(t: Test, store: 'memory' | 'redis', config: Record<string, unknown> = {}): Promise<Harness> {
  const upstream = await new RecordingUpstream(USERS).start();
  const gateway = await startTestGateway({ upstream: upstream.url, store, config });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    if (store === 'redis') await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
  });
  return { gateway, upstream };
}

/** Claims of a genuine assertion for `username`, bound to a challenge the gateway issued. */
async function claimsFor(gateway: TestGateway, username: string): Promise<AssertionClaims> {
  const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize(username));
  return { subject: username, challengeId, nowMs: Date.now() };
}

/** Log in with `assertion` from `source`, and return the status, forwards and decision line. */
async function presentAssertion(harness: Harness, username: string, assertion: string, source: string) {
  const { gateway, upstream } = harness;
  const forwardsBefore = upstream.logins.length;
  const decisionsBefore = gateway.logs.decisions.length;
  const reply = await login(gateway.port, username, USERS[username as keyof typeof USERS], {
    source,
    headers: { [STEP_UP_HEADER]: assertion },
  });
  await waitFor(() => gateway.logs.decisions.length > decisionsBefore, 'the decision line');
  return {
    status: reply.status,
    forwarded: upstream.logins.length - forwardsBefore,
    decision: gateway.logs.decisions[gateway.logs.decisions.length - 1],
  };
}

function outageLines(gateway: TestGateway): Record<string, any>[] {
  return gateway.logs.lines.filter((line) => line.message === 'store outage started');
}

for (const store of STORES) {
  t.test(`fractional exp passes once on ${store}`, async (t) => {
    const harness = await setUp(t, store);
    const { gateway } = harness;
    const claims = await claimsFor(gateway, 'alice');
    // As Python's time.time() + 120 writes it, with microseconds, so `exp` in milliseconds
    // keeps a fraction.
    const expiresAt = Math.floor(claims.nowMs / 1000) + 120.345678;
    const assertion = await signAssertion(gateway.stepUpSigningKey!, { ...claims, expiresAt });

    const accepted = await presentAssertion(harness, 'alice', assertion, '127.0.0.31');
    const replayed = await presentAssertion(harness, 'alice', assertion, '127.0.0.31');
    const bob = await presentAssertion(harness, 'bob', await signAssertion(gateway.stepUpSigningKey!, await claimsFor(gateway, 'bob')), '127.0.0.32');

    t.equal(accepted.status, 200, 'the assertion lets alice in');
    t.same(accepted.decision.riskgate.step_up, { ok: true }, 'and is logged as passed');
    t.equal(accepted.decision.riskgate.store, store, 'judged by the store itself');
    t.equal(replayed.status, 401, 'its replay is challenged');
    t.equal(replayed.forwarded, 0, 'and not forwarded');
    t.same(replayed.decision.riskgate.step_up, { ok: false, reason: 'replay' }, 'and logged as a replay');
    t.same(bob.decision.riskgate.step_up, { ok: true }, "another user's step-up still passes");
    t.equal(bob.decision.riskgate.store, store, 'with no fallback store');
    t.same(outageLines(gateway), [], 'no store outage started');
  });

  t.test(`far-future exp is rejected on ${store}`, async (t) => {
    const harness = await setUp(t, store);
    const { gateway } = harness;
    const key = gateway.stepUpSigningKey!;
    const claims = await claimsFor(gateway, 'alice');
    const nowSeconds = claims.nowMs / 1000;
    const cases: [string, string][] = [
      ['one hour', await signAssertion(key, { ...claims, expiresAt: nowSeconds + 3600 })],
      ['10 minutes and 6 seconds', await signAssertion(key, { ...claims, expiresAt: nowSeconds + 606 })],
      ['1e17', await signAssertion(key, { ...claims, expiresAt: 1e17 })],
      ['1e400, which parses as Infinity', await signAssertionWithExpText(key, claims, '1e400')],
    ];

    for (const [name, assertion] of cases) {
      const result = await presentAssertion(harness, 'alice', assertion, '127.0.0.33');
      t.equal(result.status, 401, `${name}: challenged`);
      t.equal(result.forwarded, 0, `${name}: not forwarded`);
      t.same(result.decision.riskgate.step_up, { ok: false, reason: 'lifetime_too_long' }, `${name}: logged with its reason`);
    }
    const genuine = await presentAssertion(harness, 'alice', await signAssertion(key, { ...claims, lifetimeSeconds: 600 }), '127.0.0.33');
    t.same(genuine.decision.riskgate.step_up, { ok: true }, 'an assertion that lives 10 minutes passes');
    t.same(outageLines(gateway), [], 'no store outage started');
  });
}

t.test('rejected command fails one login only', async (t) => {
  const harness = await setUp(t, 'redis');
  const { gateway } = harness;
  // A string where mallory's profile hash belongs: Redis rejects her read with WRONGTYPE.
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  t.teardown(() => client.disconnect());
  const malloryProfile = profileKey(gateway.config.store.keyPrefix, gateway.context.keys.pseudonymize('mallory'));
  await client.set(malloryProfile, 'not-a-hash', 'PX', 60_000);

  const mallory = await login(gateway.port, 'mallory', USERS.mallory, { source: '127.0.0.34' });
  const decisionsBefore = gateway.logs.decisions.length;
  const alice = await login(gateway.port, 'alice', USERS.alice, { source: '127.0.0.35' });
  await waitFor(() => gateway.logs.decisions.length > decisionsBefore, "alice's decision line");
  const rejected = gateway.logs.lines.filter((line) => line.message === 'store rejected one request; no outage started');

  t.equal(mallory.status, 500, 'the login whose command Redis rejected fails');
  t.equal(mallory.headers['retry-after'], undefined, 'with no invitation to retry');
  t.equal(rejected.length, 1, 'one error line says so');
  t.match(rejected[0]?.err?.message, /WRONGTYPE/, 'with the error Redis sent');
  t.same(outageLines(gateway), [], 'no store outage started');
  t.equal(alice.status, 200, 'the next login passes');
  t.equal(gateway.logs.decisions.at(-1)?.riskgate.store, 'redis', 'judged by Redis, not the fallback');
});

t.test('one account cannot fill the claim table', async (t) => {
  const harness = await setUp(t, 'memory', { store: { url: 'memory', key_prefix: 'rgclaims', memory_max_entries: 1000 } });
  const { gateway } = harness;
  const key = gateway.stepUpSigningKey!;

  // One account's own valid assertions, as many as the table holds.
  const outcomes: string[] = [];
  const malloryClaims = await claimsFor(gateway, 'mallory');
  for (let index = 0; index < 1000; index += 1) {
    const result = await presentAssertion(harness, 'mallory', await signAssertion(key, malloryClaims), '127.0.0.36');
    outcomes.push(result.decision.riskgate.step_up.ok ? 'ok' : result.decision.riskgate.step_up.reason);
  }
  const alice = await presentAssertion(harness, 'alice', await signAssertion(key, await claimsFor(gateway, 'alice')), '127.0.0.37');
  const limitLines = gateway.logs.lines.filter((line) => line.riskgate?.step_up?.reason === 'account_claim_limit' && line.log?.level === 'warn');

  t.same(outcomes.slice(0, 5), ['ok', 'ok', 'ok', 'ok', 'ok'], "the account's first five step-ups pass");
  t.equal(outcomes.slice(5).filter((outcome) => outcome === 'account_claim_limit').length, 995,
    'every later one is rejected with the account limit as its reason');
  t.equal(limitLines.length, 995, 'each with a warn line');
  t.equal(alice.status, 200, "another user's genuine step-up passes");
  t.same(alice.decision.riskgate.step_up, { ok: true }, 'and is logged as passed');
});

t.test('look-alike claims spare the owner', async (t) => {
  const harness = await setUp(t, 'memory', { store: { url: 'memory', key_prefix: 'rgclaims', memory_max_entries: 1000 } });
  const { gateway } = harness;
  const key = gateway.stepUpSigningKey!;
  // Counters fold accents, so álice shares alice's pseudonym and challenges. An app that
  // keeps accents has two accounts, and álice's owner passes their own second factor.
  const shared = gateway.context.keys.pseudonymize('alice');
  for (let index = 0; index < 5; index += 1) {
    const claims = { subject: '\u00e1lice', challengeId: await gateway.context.stepUp.issueChallenge(shared), nowMs: Date.now() };
    const result = await presentAssertion(harness, '\u00e1lice', await signAssertion(key, claims), '127.0.0.39');
    t.same(result.decision.riskgate.step_up, { ok: true }, `look-alike step-up ${index + 1} passes`);
  }

  const alice = await presentAssertion(harness, 'alice', await signAssertion(key, await claimsFor(gateway, 'alice')), '127.0.0.40');

  t.same(alice.decision.riskgate.step_up, { ok: true }, "alice's own step-up still passes");
  t.equal(alice.status, 200, 'and her login reaches the app');
});

t.test('full claim table is not a replay', async (t) => {
  const harness = await setUp(t, 'memory', { store: { url: 'memory', key_prefix: 'rgclaims', memory_max_entries: 1000 } });
  const { gateway } = harness;
  // 200 accounts with five live claims each fill the table.
  const now = Date.now();
  for (let account = 0; account < 200; account += 1) {
    const claims = Array.from({ length: 5 }, (_, index) => ({ key: `rgclaims:jti:{${account}-${index}}`, ttlMs: 60_000, account: `account-${account}` }));
    await gateway.context.store.primary.read({ now, counters: [], claims });
  }

  const alice = await presentAssertion(harness, 'alice', await signAssertion(gateway.stepUpSigningKey!, await claimsFor(gateway, 'alice')), '127.0.0.38');
  const fullLines = gateway.logs.lines.filter((line) => line.message.startsWith('step-up claim table is full'));

  t.equal(alice.status, 401, 'the step-up is rejected, failing closed');
  t.equal(alice.forwarded, 0, 'and not forwarded');
  t.same(alice.decision.riskgate.step_up, { ok: false, reason: 'claim_table_full' }, 'with its own reason, not replay');
  t.equal(fullLines.length, 1, 'one warn line says the table is full');
  t.equal(fullLines[0]?.log?.level, 'warn', 'at warn level');
});

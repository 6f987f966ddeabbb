import http from 'node:http';

import t, { type Test } from 'tap';

import { AdminAuthenticator, tokenDigest } from '../../src/admin/auth.js';
import { loadConfigObject } from '../../src/config/load.js';
import { PROJECT_ROOT, TEST_SECRET, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { ADMIN_TOKEN, admin } from './client.js';

// Wrong tokens of every shape: empty, short, long, a prefix of the real one, the real one
// with a suffix, one character changed, and the real one in another case.
const WRONG_TOKENS = [
  'x',
  'short',
  ADMIN_TOKEN.slice(0, 1),
  ADMIN_TOKEN.slice(0, ADMIN_TOKEN.length - 1),
  `${ADMIN_TOKEN}x`,
  `${ADMIN_TOKEN.slice(0, -1)}!`,
  ADMIN_TOKEN.toUpperCase(),
  'y'.repeat(4096),
];

async function startWithToken(t: Test, token: string | undefined) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: token ? { admin: { token } } : {} });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return gateway;
}

t.test('missing token is rejected with 401', async (t) => {
  const gateway = await startWithToken(t, ADMIN_TOKEN);

  const reply = await admin(gateway.adminPort, 'GET', '/v1/manual-entries', { token: null });

  t.equal(reply.status, 401);
  t.equal(reply.headers['content-type'], 'application/problem+json');
  t.equal(reply.headers['www-authenticate'], 'Bearer realm="riskgate-admin"');
  t.equal(reply.json().detail, 'send the admin token as Authorization: Bearer <token>');
});

t.test('every wrong token gets the same answer', async (t) => {
  const gateway = await startWithToken(t, ADMIN_TOKEN);

  const replies = [];
  for (const token of WRONG_TOKENS) {
    replies.push(await admin(gateway.adminPort, 'GET', '/v1/manual-entries', { token }));
  }

  for (const [index, reply] of replies.entries()) {
    t.equal(reply.status, 401, `wrong token ${index} is rejected`);
    t.equal(reply.body, replies[0].body, `wrong token ${index} gets the same body`);
    t.equal(reply.headers['www-authenticate'], 'Bearer realm="riskgate-admin", error="invalid_token"');
  }
  t.notOk(gateway.logs.text.includes(ADMIN_TOKEN), 'the real token never reaches the log');
  t.notOk(gateway.logs.text.includes('short'), 'a presented token never reaches the log');
});

t.test('right token is accepted', async (t) => {
  const gateway = await startWithToken(t, ADMIN_TOKEN);

  const reply = await admin(gateway.adminPort, 'GET', '/v1/manual-entries');

  t.equal(reply.status, 200);
  t.same(reply.json(), { entries: [] });
});

t.test('no configured token turns the API off', async (t) => {
  const gateway = await startWithToken(t, undefined);

  const reply = await admin(gateway.adminPort, 'GET', '/v1/manual-entries');
  const health = await send(gateway.adminPort, { path: '/healthz' });

  t.equal(reply.status, 403);
  t.equal(reply.json().title, 'admin API disabled');
  t.match(reply.json().detail, /set admin\.token or RISKGATE_ADMIN_TOKEN/);
  t.equal(health.status, 200);
});

t.test('authentication failures are logged at a bounded rate', async (t) => {
  const gateway = await startWithToken(t, ADMIN_TOKEN);

  for (let index = 0; index < 5; index += 1) {
    await admin(gateway.adminPort, 'GET', '/v1/manual-entries', { token: `wrong-${index}` });
  }
  const lines = gateway.logs.lines.filter((line) => line.message === 'admin authentication failed');

  t.equal(lines.length, 1);
  t.equal(lines[0].event.outcome, 'failure');
  t.equal(lines[0].riskgate.admin.token, 'invalid');
});

t.test('comparison is constant-time by construction', async (t) => {
  const authenticator = new AdminAuthenticator(ADMIN_TOKEN, TEST_SECRET);

  // timingSafeEqual throws on buffers of unequal length, so a wrong token of any length
  // returning `invalid` (not throwing) shows that only fixed-length digests are compared.
  for (const token of WRONG_TOKENS) {
    t.equal(tokenDigest(token).length, 32, `digest of a ${token.length}-character token is 32 bytes`);
    t.same(authenticator.check(`Bearer ${token}`), { ok: false, reason: 'invalid' });
  }
  t.same(authenticator.check(undefined), { ok: false, reason: 'missing' });
  t.same(authenticator.check(`Basic ${ADMIN_TOKEN}`), { ok: false, reason: 'missing' });
  t.equal(authenticator.check(`Bearer ${ADMIN_TOKEN}`).ok, true);
});

t.test('fingerprint never contains the token', async (t) => {
  const authenticator = new AdminAuthenticator(ADMIN_TOKEN, TEST_SECRET);
  const other = new AdminAuthenticator(ADMIN_TOKEN, `${TEST_SECRET}-other`);

  const check = authenticator.check(`Bearer ${ADMIN_TOKEN}`);

  t.match(check, { ok: true, fingerprint: /^tok_[0-9a-f]{16}$/ });
  t.notOk(ADMIN_TOKEN.includes((check as { fingerprint: string }).fingerprint.slice(4)));
  t.not(other.fingerprint(ADMIN_TOKEN), authenticator.fingerprint(ADMIN_TOKEN), 'fingerprints are keyed by the secret');
});

t.test('short admin token is rejected at load', async (t) => {
  t.throws(
    () => loadConfigObject({ upstream: 'http://127.0.0.1:3000', admin: { token: 'too-short' } }, PROJECT_ROOT, {
      env: {},
      secret: TEST_SECRET,
    }),
    { message: /the admin token is too short \(9 characters\); it needs at least 32/ },
  );
});

/** Send GET /v1/manual-entries on a kept-alive connection, and resolve with the status and the time taken in ms. */
function timedRequest(agent: http.Agent, port: number, token: string | undefined): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const request = http.request({ host: '127.0.0.1', port, path: '/v1/manual-entries', agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    request.on('error', reject);
    request.end();
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

t.test('wrong and missing tokens take the same time', async (t) => {
  const gateway = await startWithToken(t, ADMIN_TOKEN);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const kinds: [string, string | undefined][] = [
    ['missing', undefined],
    ['first character wrong', `!${ADMIN_TOKEN.slice(1)}`],
    ['last character wrong', `${ADMIN_TOKEN.slice(0, -1)}!`],
    ['one character', 'x'],
    ['256 characters', 'y'.repeat(256)],
  ];
  const warmUp = 20;
  const rounds = 200;

  // Kinds take turns in a rotating order, so drift in machine load touches each alike.
  const timings = new Map<string, number[]>(kinds.map(([name]) => [name, []]));
  const statuses = new Set<number>();
  for (let round = 0; round < warmUp + rounds; round += 1) {
    for (let turn = 0; turn < kinds.length; turn += 1) {
      const [name, token] = kinds[(round + turn) % kinds.length];
      const { status, ms } = await timedRequest(agent, gateway.adminPort, token);
      statuses.add(status);
      if (round >= warmUp) timings.get(name)!.push(ms);
    }
  }

  // NOTE: loopback HTTP timing resolves differences of about a tenth of a millisecond. A
  // nanosecond difference, such as an early exit in a string comparison, is below that, so
  // the constant-time construction test above covers it.
  const overall = median([...timings.values()].flat());
  const tolerance = Math.max(0.1, overall * 0.25);
  t.same([...statuses], [401], 'every request was rejected');
  for (const [name, values] of timings) {
    const kindMedian = median(values);
    t.ok(Math.abs(kindMedian - overall) < tolerance,
      `${name}: median ${kindMedian.toFixed(3)} ms, all kinds ${overall.toFixed(3)} ms, tolerance ${tolerance.toFixed(3)} ms`);
  }
});

import t, { type Test } from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { login, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { signAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const MINUTE = 60_000;
const VICTIM_ADDRESS = '198.51.100.20';

async function setUp(t: Test) {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream({ victim: 'correct horse', mallory: 'x' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    clock: clock.read,
    config: { trusted_proxies: ['127.0.0.1/32'] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { clock, upstream, gateway };
}

function attempt(gateway: TestGateway, username: string, password: string, address: string, cookie?: string) {
  return login(gateway.port, username, password, {
    headers: { 'x-forwarded-for': address, ...(cookie ? { cookie } : {}) },
  });
}

/** Log in as the victim from the known address and device, passing a step-up if asked. */
async function victimLogin(t: Test, gateway: TestGateway, clock: FakeClock, cookie: string) {
  const first = await attempt(gateway, 'victim', 'correct horse', VICTIM_ADDRESS, cookie);
  t.not(first.status, 403, 'the victim is never refused');
  t.not(first.status, 429, 'the victim is never rate-limited');
  if (first.status !== 401) return first.status;

  const challengeId = first.json().challenge.id as string;
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'victim', challengeId, nowMs: clock.now });
  const second = await login(gateway.port, 'victim', 'correct horse', {
    headers: { 'x-forwarded-for': VICTIM_ADDRESS, cookie, 'riskgate-step-up': assertion },
  });
  return second.status;
}

t.test('trickled failures on an account never block its owner', async (t) => {
  const { clock, upstream, gateway } = await setUp(t);

  const enrolment = await attempt(gateway, 'victim', 'correct horse', VICTIM_ADDRESS);
  t.equal(enrolment.status, 200);
  const cookie = String(enrolment.headers['set-cookie']?.[0]).split(';')[0];
  t.match(cookie, /^__Host-rg_device=/, 'the victim has a device cookie');

  const statuses: number[] = [];
  for (let minute = 1; minute <= 60; minute += 1) {
    clock.advance(MINUTE);
    const address = `203.0.113.${(minute % 30) + 1}`;
    statuses.push((await attempt(gateway, 'victim', `guess-${minute}`, address)).status);
    if (minute % 10 === 0) {
      t.equal(await victimLogin(t, gateway, clock, cookie), 200, `the victim gets in at minute ${minute}`);
    }
  }

  t.ok(statuses.includes(401), 'the trickle reaches the account challenge');
  t.notOk(statuses.includes(403) || statuses.includes(429), 'the trickle itself is challenged, not blocked');
  const victimDecisions = gateway.logs.decisions.filter((line) => line.source.ip === VICTIM_ADDRESS);
  t.equal(victimDecisions.filter((line) => line.riskgate.decision === 'block').length, 0, 'no victim login was blocked');
  t.ok(
    victimDecisions.some((line) => line.riskgate.decision === 'challenge'),
    'the owner was challenged while the account was under attack',
  );
  t.ok(upstream.logins.filter((received) => received.username === 'victim').length >= 7, 'the owner logins reached the app');
});

t.test('attacker source is blocked past its own limit and unblocked after the window', async (t) => {
  const { clock, gateway } = await setUp(t);
  const attacker = '203.0.113.200';

  // Ten accounts in under a minute from one address is credential stuffing.
  const spray: number[] = [];
  for (let index = 1; index <= 11; index += 1) {
    clock.advance(3000);
    spray.push((await attempt(gateway, `user${index}`, 'Summer2024!', attacker)).status);
  }
  t.same(spray.slice(0, 10).filter((status) => status === 429), [], 'the first ten are judged normally or challenged');
  t.equal(spray[10], 429, 'the eleventh account from the address is blocked');

  // The attacker keeps trickling one attempt a minute on an account it already tried.
  const trickle: { minute: number; status: number }[] = [];
  for (let minute = 1; minute <= 30; minute += 1) {
    clock.advance(MINUTE);
    trickle.push({ minute, status: (await attempt(gateway, 'user1', 'Summer2024!', attacker)).status });
  }

  t.equal(trickle[0].status, 429, 'the block holds at first');
  const firstUnblocked = trickle.find((entry) => entry.status !== 429);
  t.ok(firstUnblocked, 'the block ends although the trickle goes on');
  t.ok(firstUnblocked!.minute <= 21, `the block ends within two windows (ended at minute ${firstUnblocked?.minute})`);
  t.ok(trickle.slice(firstUnblocked!.minute - 1).every((entry) => entry.status !== 429), 'the trickle does not renew it');

  const decisions = await waitForDecisions(gateway.logs, 41);
  const last = decisions[decisions.length - 1];
  t.ok(last.riskgate.counters.usernames_per_ip < 10, 'blocked attempts on a known account add no new account');
});

t.test('burst source is rate blocked and the block lapses at a slow rate', async (t) => {
  const { clock, gateway } = await setUp(t);
  const attacker = '203.0.113.201';

  const burst: number[] = [];
  for (let index = 0; index < 70; index += 1) {
    clock.advance(500);
    burst.push((await attempt(gateway, 'mallory', 'x', attacker)).status);
  }
  t.equal(burst[69], 429, 'seventy attempts in 35 seconds are rate blocked');

  const afterwards: number[] = [];
  for (let minute = 1; minute <= 5; minute += 1) {
    clock.advance(MINUTE);
    afterwards.push((await attempt(gateway, 'mallory', 'x', attacker)).status);
  }
  t.equal(afterwards[afterwards.length - 1], 200, 'one attempt a minute is let through again');
});

t.test('a page on another site cannot get its visitors blocked', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const visitor = '198.51.100.30';
  // What an auto-submitted form or a no-cors fetch on another site makes the visitor's browser send.
  const crossSite = { 'x-forwarded-for': visitor, 'sec-fetch-site': 'cross-site', origin: 'https://attacker.example' };

  for (let index = 0; index < 12; index += 1) {
    const reply = await login(gateway.port, `made-up-${index}`, 'guess', { headers: crossSite });
    t.equal(reply.status, 403, `cross-site post ${index + 1}: refused`);
    t.match(reply.json().title, /cross-site login refused/);
  }
  t.equal(upstream.logins.length, 0, 'no cross-site post reached the app');
  t.equal(gateway.logs.decisions.length, 0, 'none was judged or counted');

  const own = await login(gateway.port, 'victim', 'correct horse',
    { headers: { 'x-forwarded-for': visitor, 'sec-fetch-site': 'same-origin' } });
  t.equal(own.status, 200, "the visitor's own login still gets in");
});

t.test('without Sec-Fetch-Site the Origin decides', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Safari before 16.4 sends Origin on a form post but no Sec-Fetch-Site.
  const rejected: [string, Record<string, string>][] = [
    ['an Origin of another site', { origin: 'https://attacker.example' }],
    ['a sandboxed frame', { origin: 'null' }],
    ['an Origin that is no URL', { origin: 'attacker' }],
    ['an address Origin', { origin: 'http://192.0.2.1' }],
    // Public suffixes of more than one label, and private ones that host many sites.
    ['another site under co.uk', { origin: 'https://evil.co.uk', host: 'www.victim.co.uk' }],
    ['another site under github.io', { origin: 'https://evil.github.io', host: 'victim.github.io' }],
  ];
  const allowed: [string, Record<string, string>][] = [
    ['the same host', { origin: 'http://127.0.0.1' }],
    ['a sibling host of the same site', { origin: 'https://www.app.example', host: 'login.app.example' }],
    ['a sibling host under co.uk', { origin: 'https://www.victim.co.uk', host: 'login.victim.co.uk' }],
    ['the host a trusted proxy forwarded', { origin: 'https://app.example', 'x-forwarded-host': 'app.example' }],
    ['no Origin at all', {}],
  ];

  for (const [name, headers] of rejected) {
    const reply = await login(gateway.port, 'made-up', 'guess', { headers: { 'x-forwarded-for': '198.51.100.31', ...headers } });
    t.equal(reply.status, 403, `${name}: rejected`);
    t.match(reply.json().detail, /another site/, `${name}: the detail says why`);
  }
  // A page may send X-Forwarded-Host itself (a CORS preflight that reflects the requested
  // headers allows it), so only a trusted proxy's header names the request's host.
  const untrusted = await login(gateway.port, 'made-up', 'guess', {
    source: '127.0.0.77', headers: { origin: 'https://attacker.example', 'x-forwarded-host': 'attacker.example' },
  });
  t.equal(untrusted.status, 403, 'a client\'s own X-Forwarded-Host does not make its Origin the site\'s');
  t.equal(upstream.logins.length, 0, 'no rejected login reached the app');

  for (const [name, headers] of allowed) {
    const reply = await login(gateway.port, 'victim', 'correct horse', { headers: { 'x-forwarded-for': '198.51.100.32', ...headers } });
    t.equal(reply.status, 200, `${name}: judged and forwarded`);
  }
  const sameSite = await login(gateway.port, 'victim', 'correct horse', {
    headers: { 'x-forwarded-for': '198.51.100.32', origin: 'https://attacker.example', 'sec-fetch-site': 'same-origin' },
  });
  t.equal(sameSite.status, 200, 'Sec-Fetch-Site, when sent, decides over Origin');
});

t.test('a route that takes cross-site logins judges them', async (t) => {
  const upstream = await new RecordingUpstream({ victim: 'correct horse' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { login_routes: [{ path: '/login', cross_site: 'judge' }] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const reply = await login(gateway.port, 'victim', 'correct horse', { headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(reply.status, 200, 'the login is forwarded');
  t.equal((await waitForDecisions(gateway.logs, 1)).length, 1, 'and judged');
});

t.test('a same-origin route refuses logins from sibling hosts', async (t) => {
  const upstream = await new RecordingUpstream({ victim: 'correct horse' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { trusted_proxies: ['127.0.0.1/32'], login_routes: [{ path: '/login', cross_site: 'same-origin' }] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // A page on a sibling subdomain (user pages, a forum) is same-site, not same-origin.
  const rejected: [string, Record<string, string>][] = [
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site', origin: 'https://pages.app.example', host: 'app.example' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['a sibling Origin without Sec-Fetch-Site', { origin: 'https://pages.app.example', host: 'app.example' }],
  ];
  const allowed: [string, Record<string, string>][] = [
    ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin' }],
    ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
    ['the same host without Sec-Fetch-Site', { origin: 'https://app.example', host: 'app.example' }],
    ['no Origin at all', {}],
  ];

  for (const [name, headers] of rejected) {
    const reply = await login(gateway.port, 'made-up', 'guess', { headers: { 'x-forwarded-for': '198.51.100.33', ...headers } });
    t.equal(reply.status, 403, `${name}: rejected`);
  }
  t.equal(upstream.logins.length, 0, 'no rejected login reached the app');
  for (const [name, headers] of allowed) {
    const reply = await login(gateway.port, 'victim', 'correct horse', { headers: { 'x-forwarded-for': '198.51.100.34', ...headers } });
    t.equal(reply.status, 200, `${name}: judged and forwarded`);
  }
});

t.test('copied browser headers cannot weigh on a known device', async (t) => {
  const { clock, gateway } = await setUp(t);
  const owner = await attempt(gateway, 'victim', 'correct horse', VICTIM_ADDRESS);
  const cookie = owner.headers['set-cookie']?.find((value) => value.startsWith('__Host-rg_device='))?.split(';')[0];
  t.ok(cookie, 'the owner has a device cookie');

  // A tool sends the same browser headers as the owner, a cookie included: 100 failures
  // from 25 networks.
  clock.advance(MINUTE);
  for (let network = 1; network <= 25; network += 1) {
    for (let index = 0; index < 4; index += 1) {
      await attempt(gateway, `made-up-${network}-${index}`, 'guess', `2001:db8:${network}::1`, 'session=copied');
    }
  }
  const returning = await attempt(gateway, 'victim', 'correct horse', VICTIM_ADDRESS, cookie);
  const stranger = await attempt(gateway, 'newcomer', 'guess', '198.51.100.77', 'session=new');
  const lines = await waitForDecisions(gateway.logs, 103);

  t.equal(lines[102].riskgate.counters.failures_per_fingerprint, 100, 'the fingerprint counted every failure');
  t.equal(lines[101].riskgate.counters.failures_per_fingerprint, 100, "the owner's login shares that fingerprint");
  t.ok(lines[102].riskgate.rules.includes('tool.fingerprint-failure-surge'), 'a device the account does not know gets the weight');
  t.equal(returning.status, 200, 'the owner gets in');
  t.notOk(lines[101].riskgate.rules.includes('tool.fingerprint-failure-surge'), "the owner's known device does not");
  t.equal(stranger.status, 401);
});

import { generateKeyPair, jwtVerify } from 'jose';
import t, { type Test } from 'tap';

import { challengeUrl } from '../../src/proxy/login.js';
import { cleanEnv, ensureBuilt, runCli } from '../helpers/cli.js';
import { FakeClock } from '../helpers/clock.js';
import { TEST_SECRET, login, send, startTestGateway, type Reply, type TestGateway } from '../helpers/gateway.js';
import { signAssertion, unsignedAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const STEP_UP_HEADER = 'Riskgate-Step-Up';

/** Send a login relayed by the trusted proxy on 127.0.0.1 for a client at `client`. */
function proxiedLogin(gateway: TestGateway, client: string, password: string, headers: Record<string, string> = {}) {
  return login(gateway.port, 'alice', password, { headers: { 'x-forwarded-for': client, ...headers } });
}

async function setup(t: Test) {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    clock: clock.read,
    config: { trusted_proxies: ['127.0.0.1/32'] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // Guess alice's password from twenty addresses; each fails at the app until the challenge.
  const guesses: Reply[] = [];
  for (let index = 1; index <= 20; index += 1) {
    guesses.push(await proxiedLogin(gateway, `198.51.100.${index}`, `guess-${index}`));
  }
  return { clock, upstream, gateway, guesses };
}

function challengeOf(reply: Reply): { id: string; mfa_url: string; header: string } {
  return reply.json().challenge;
}

t.test('brute force from many addresses is challenged', async (t) => {
  const { upstream, gateway, guesses } = await setup(t);

  const statuses = guesses.map((reply) => reply.status);
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the first five guesses reach the app and fail');
  t.equal(upstream.logins.length, 5, 'only those five were forwarded');
  t.equal(statuses.filter((status) => status === 403 || status === 429).length, 0, 'no guess is blocked');
  for (const reply of guesses.slice(5)) {
    t.type(challengeOf(reply)?.id, 'string', 'every later guess gets a challenge id');
  }

  const challenge = challengeOf(guesses[5]);
  t.match(challenge.mfa_url, /^\/mfa\?challenge=/, 'the challenge names the MFA URL');
  t.equal(challenge.mfa_url, `/mfa?challenge=${encodeURIComponent(challenge.id)}`, 'the MFA URL carries the id');
  t.equal(challenge.header, STEP_UP_HEADER, 'the challenge names the header to repeat the login with');
  t.equal(guesses[5].headers['www-authenticate'], `${STEP_UP_HEADER} realm="riskgate"`);

  const decisions = await waitForDecisions(gateway.logs, 20);
  t.equal(decisions[5].riskgate.decision, 'challenge');
  t.ok(decisions[5].rule.name.includes('bruteforce.account-failures'), 'the account rule fired');
  t.equal(decisions[5].source.ip, '198.51.100.6', 'each guess is judged by its own client address');
});

t.test('the challenge id goes into the MFA URL query, before any fragment', async (t) => {
  t.equal(challengeUrl('/mfa', 'a b'), '/mfa?challenge=a%20b');
  t.equal(challengeUrl('/mfa?lang=en', 'c1'), '/mfa?lang=en&challenge=c1');
  t.equal(challengeUrl('/mfa?', 'c1'), '/mfa?challenge=c1');
  t.equal(challengeUrl('https://mfa.example/verify#start', 'c1'), 'https://mfa.example/verify?challenge=c1#start');
  t.equal(challengeUrl('https://mfa.example/verify?lang=en#/step?x=1', 'c1'),
    'https://mfa.example/verify?lang=en&challenge=c1#/step?x=1');
});

t.test('step-up passes once, then replay fails', async (t) => {
  const { clock, upstream, gateway } = await setup(t);
  const key = gateway.stepUpSigningKey!;

  const owner = await proxiedLogin(gateway, '203.0.113.50', 'wonderland');
  t.equal(owner.status, 401, 'the owner is challenged too');
  const challengeId = challengeOf(owner).id;
  const assertion = await signAssertion(key, { subject: 'alice', challengeId, nowMs: clock.now });
  const before = upstream.logins.length;

  const passed = await proxiedLogin(gateway, '203.0.113.50', 'wonderland', { [STEP_UP_HEADER]: assertion });

  t.equal(passed.status, 200, 'the step-up login is allowed');
  t.same(passed.json(), { ok: true }, "the app's answer comes back");
  t.equal(upstream.logins.length, before + 1, 'and forwarded');
  t.equal(upstream.logins.at(-1)?.headers['riskgate-step-up'], undefined, 'the assertion is not passed to the app');

  const replay = await proxiedLogin(gateway, '203.0.113.50', 'wonderland', { [STEP_UP_HEADER]: assertion });

  t.equal(replay.status, 401, 'the replay is challenged again');
  t.type(challengeOf(replay)?.id, 'string', 'with a new challenge');
  t.equal(upstream.logins.length, before + 1, 'the replay is not forwarded');

  const decisions = await waitForDecisions(gateway.logs, 23);
  const [passedLine, replayLine] = decisions.slice(21);
  t.equal(passedLine.riskgate.decision, 'allow');
  t.same(passedLine.riskgate.step_up, { ok: true });
  t.equal(replayLine.riskgate.decision, 'challenge');
  t.same(replayLine.riskgate.step_up, { ok: false, reason: 'replay' });
  t.notOk(gateway.logs.text.includes(assertion), 'the assertion is not logged');
  t.notOk(gateway.logs.text.includes(assertion.split('.')[2]), 'nor its signature');
});

t.test('a form login carries its assertion in the step-up cookie', async (t) => {
  // An HTML form cannot send a header, so the MFA page sets the cookie and the user posts
  // the login form again.
  const { clock, upstream, gateway } = await setup(t);
  const postForm = (cookie: string) => send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: {
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      accept: 'text/html',
      'accept-language': 'en',
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': '203.0.113.50',
      cookie,
    },
    body: 'username=alice&password=wonderland',
  });
  const owner = await proxiedLogin(gateway, '203.0.113.50', 'wonderland');
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId: challengeOf(owner).id, nowMs: clock.now });
  const before = upstream.logins.length;

  const passed = await postForm(`theme=dark; __Host-rg_step_up=${assertion}`);
  t.equal(passed.status, 200, 'the login with the cookie is allowed');
  t.equal(upstream.logins.length, before + 1, 'and forwarded');
  t.equal(upstream.logins.at(-1)?.headers.cookie, 'theme=dark', 'the app gets no copy of the assertion');
  const cleared = [passed.headers['set-cookie'] ?? []].flat().find((value) => value.startsWith('__Host-rg_step_up='));
  t.match(cleared, /^__Host-rg_step_up=; Max-Age=0; Path=\//, 'the response clears the cookie');

  const replay = await postForm(`__Host-rg_step_up=${assertion}`);
  t.equal(replay.status, 303, 'the same cookie again is challenged');
  t.match(replay.headers.location, /^\/mfa\?challenge=/, 'with a redirect to the MFA page');
  t.equal(upstream.logins.length, before + 1, 'and not forwarded');
  const decisions = await waitForDecisions(gateway.logs, 23);
  t.same(decisions[22].riskgate.step_up, { ok: false, reason: 'replay' }, 'as a replay');

  await send(gateway.port, { path: '/account', headers: { cookie: `__Host-rg_step_up=${assertion}; theme=dark` } });
  t.equal(upstream.requests.at(-1)?.headers.cookie, 'theme=dark', 'no other page of the app gets it either');
});

t.test('a challenged browser navigation goes to the MFA page', async (t) => {
  const { upstream, gateway } = await setup(t);
  const before = upstream.logins.length;
  const formPost = (headers: Record<string, string>) => send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.50', ...headers },
    body: 'username=alice&password=wonderland',
  });

  const navigation = await formPost({ 'sec-fetch-mode': 'navigate', accept: 'text/html' });
  const olderBrowser = await formPost({ accept: 'text/html,application/xhtml+xml' });
  const script = await formPost({ 'sec-fetch-mode': 'cors', accept: 'text/html' });
  const api = await formPost({ accept: 'application/json' });

  t.equal(navigation.status, 303, 'a form post the browser navigates with is redirected');
  t.match(navigation.headers.location, /^\/mfa\?challenge=[\w.-]+$/, 'to mfa_url with the challenge id');
  t.equal(navigation.headers['www-authenticate'], undefined);
  t.equal(olderBrowser.status, 303, 'so is a form post accepting HTML without Sec-Fetch-Mode');
  t.equal(script.status, 401, 'a script\'s request gets the challenge document');
  t.equal(api.status, 401, 'as does a client that does not accept HTML');
  t.equal(upstream.logins.length, before, 'none reaches the app');
  const decisions = await waitForDecisions(gateway.logs, 24);
  t.equal(decisions[20].riskgate.decision, 'challenge', 'the redirect is logged as a challenge');
  t.equal(decisions[20].http.response.status_code, 303);
});

t.test('planted step-up cookies are ignored', async (t) => {
  // A sibling subdomain can set cookies of the same name with a longer path, which the
  // browser sends before the one the MFA page set.
  const { clock, upstream, gateway } = await setup(t);
  const browser = {
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'accept-language': 'en',
  };
  const owner = await proxiedLogin(gateway, '203.0.113.50', 'wonderland');
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId: challengeOf(owner).id, nowMs: clock.now });

  const shadowed = await proxiedLogin(gateway, '203.0.113.50', 'wonderland',
    { ...browser, cookie: `__Host-rg_step_up=planted; __Host-rg_step_up=${unsignedAssertion({ subject: 'alice', challengeId: challengeOf(owner).id, nowMs: clock.now })}; __Host-rg_step_up=${assertion}` });
  t.equal(shadowed.status, 200, 'the valid cookie after planted ones passes the step-up');
  t.equal(upstream.logins.at(-1)?.headers.cookie, undefined, 'and the app gets none of them');

  const allowed = await login(gateway.port, 'bob', 'wonderland', { headers: { ...browser, 'x-forwarded-for': '203.0.113.60', cookie: '__Host-rg_step_up=planted' } });
  t.equal(allowed.status, 200, 'a planted cookie alone leaves an allowed login allowed');
  const decisions = await waitForDecisions(gateway.logs, 23);
  t.same(decisions[21].riskgate.step_up, { ok: true }, 'the step-up is logged as passed');
  t.equal(decisions[22].riskgate.step_up, undefined, 'and the planted cookie as no step-up');
});

t.test('a login client on a listed origin can read the challenge', async (t) => {
  // A hybrid app or a single-page app on another origin calls the login with fetch, and the
  // browser hides a response without CORS headers from it.
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: {
      trusted_proxies: ['127.0.0.1/32'],
      login_routes: [{ id: 'api', path: '/login', cross_site: 'judge', cors_origins: ['capacitor://localhost'] }],
    },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const fromApp = (client: string, password: string, origin = 'capacitor://localhost') =>
    proxiedLogin(gateway, client, password, { origin });

  const failures = [];
  for (let index = 1; index <= 5; index += 1) failures.push(await fromApp(`198.51.100.${index}`, `guess-${index}`));
  t.equal(failures[0].headers['access-control-allow-origin'], undefined, "the app's own response keeps the app's headers");

  const challenged = await fromApp('203.0.113.50', 'wonderland');
  t.equal(challenged.status, 401, 'the owner is challenged');
  t.type(challengeOf(challenged)?.id, 'string');
  t.equal(challenged.headers['access-control-allow-origin'], 'capacitor://localhost', 'the challenge names the origin');
  t.equal(challenged.headers['access-control-allow-credentials'], 'true');
  t.match(challenged.headers['access-control-expose-headers'], /WWW-Authenticate/);
  t.match(challenged.headers.vary, /Origin/);

  const other = await fromApp('203.0.113.51', 'wonderland', 'https://evil.example');
  t.equal(other.status, 401);
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an origin not listed gets none');
});

t.test('a used assertion fails after a memory store restart', async (t) => {
  // The memory store starts empty, so the claims of assertions used before are gone.
  const clock = new FakeClock();
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  const start = async () => {
    const gateway = await startTestGateway({ upstream: upstream.url, clock: clock.read, stepUpKey: publicKey });
    t.teardown(() => gateway.close());
    return gateway;
  };
  const assertionFrom = async (gateway: TestGateway) => {
    const challengeId = await gateway.context.stepUp.issueChallenge(gateway.context.keys.pseudonymize('alice'));
    return signAssertion(privateKey, { subject: 'alice', challengeId, nowMs: clock.now });
  };
  const present = async (gateway: TestGateway, assertion: string) => {
    const count = gateway.logs.decisions.length;
    const forwards = upstream.logins.length;
    await login(gateway.port, 'alice', 'wonderland', { headers: { [STEP_UP_HEADER]: assertion } });
    const line = (await waitForDecisions(gateway.logs, count + 1))[count];
    return { stepUp: line.riskgate.step_up, forwarded: upstream.logins.length - forwards };
  };

  const first = await start();
  const used = await assertionFrom(first);
  t.same((await present(first, used)).stepUp, { ok: true }, 'the assertion passes once');
  // An MFA service whose clock runs 4 s ahead dates its assertion after the restart below.
  const challengeId = await first.context.stepUp.issueChallenge(first.context.keys.pseudonymize('alice'));
  const ahead = await signAssertion(privateKey, { subject: 'alice', challengeId, nowMs: clock.now + 4000 });
  t.same((await present(first, ahead)).stepUp, { ok: true }, 'an assertion dated ahead passes once');
  await first.close();

  clock.advance(2000);
  const second = await start();
  const replayed = await present(second, used);
  t.same(replayed.stepUp, { ok: false, reason: 'issued_before_store_loss' }, 'after the restart it is rejected');
  t.equal(replayed.forwarded, 0, 'and not forwarded');
  const replayedAhead = await present(second, ahead);
  t.same(replayedAhead.stepUp, { ok: false, reason: 'issued_before_store_loss' }, 'so is the one dated ahead');
  t.equal(replayedAhead.forwarded, 0, 'which is not forwarded either');
  t.same((await present(second, await assertionFrom(second))).stepUp, { ok: true }, 'an assertion issued after the start passes');
});

t.test('an assertion for an expired challenge names that reason', async (t) => {
  const { clock, gateway } = await setup(t);
  const owner = await proxiedLogin(gateway, '203.0.113.51', 'wonderland');
  const challengeId = challengeOf(owner).id;

  // The challenge lives 5 minutes; the assertion itself is fresh.
  clock.advance(6 * 60_000);
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: 'alice', challengeId, nowMs: clock.now });
  const late = await proxiedLogin(gateway, '203.0.113.51', 'wonderland', { [STEP_UP_HEADER]: assertion });

  t.equal(late.status, 401, 'the login is challenged again');
  const decisions = await waitForDecisions(gateway.logs, 22);
  t.same(decisions[21].riskgate.step_up, { ok: false, reason: 'challenge_expired' });
});

t.test('a subject in another case passes', async (t) => {
  const { clock, gateway } = await setup(t);
  const key = gateway.stepUpSigningKey!;
  const owner = await proxiedLogin(gateway, '203.0.113.50', 'wonderland');
  // An MFA service signs the name as its user record spells it, case included.
  const assertion = await signAssertion(key, { subject: ' Alice', challengeId: challengeOf(owner).id, nowMs: clock.now });

  const passed = await proxiedLogin(gateway, '203.0.113.50', 'wonderland', { [STEP_UP_HEADER]: assertion });

  t.equal(passed.status, 200, 'the subject reads as the same account');
  const line = (await waitForDecisions(gateway.logs, 22))[21];
  t.same(line.riskgate.step_up, { ok: true });
});

t.test('invalid assertions are rejected', async (t) => {
  const { clock, upstream, gateway } = await setup(t);
  const key = gateway.stepUpSigningKey!;
  const owner = await proxiedLogin(gateway, '203.0.113.50', 'wonderland');
  const challengeId = challengeOf(owner).id;
  const base = { subject: 'alice', challengeId, nowMs: clock.now };

  const cases: [string, string, string][] = [
    ['wrong audience', await signAssertion(key, { ...base, audience: 'another-service' }), 'audience'],
    ['wrong issuer', await signAssertion(key, { ...base, issuer: 'evil-mfa' }), 'issuer'],
    ['expired', await signAssertion(key, { ...base, nowMs: clock.now - 600_000, lifetimeSeconds: 60 }), 'expired'],
    ['alg none', unsignedAssertion(base), 'algorithm_not_allowed'],
    ['other account', await signAssertion(key, { ...base, subject: 'bob' }), 'subject'],
    // Collations keep the dotless ı apart from i, so alıce can be an account of its own.
    ['look-alike account', await signAssertion(key, { ...base, subject: 'al\u0131ce' }), 'subject'],
    ['WordPress look-alike', await signAssertion(key, { ...base, subject: 'a\u0140ice' }), 'subject'],
    // SQL Server's default collation and PostgreSQL keep accents, widths and invisible characters.
    ['accented account', await signAssertion(key, { ...base, subject: '\u00e1lice' }), 'subject'],
    ['full-width account', await signAssertion(key, { ...base, subject: '\uff41lice' }), 'subject'],
    ['zero-width account', await signAssertion(key, { ...base, subject: 'ali\u200bce' }), 'subject'],
    // Unicode spaces and the byte order mark are not trimmed, and NFC's singletons not applied.
    ['ideographic-space account', await signAssertion(key, { ...base, subject: 'alice\u3000' }), 'subject'],
    ['no-break-space account', await signAssertion(key, { ...base, subject: '\u00a0alice' }), 'subject'],
    ['byte-order-mark account', await signAssertion(key, { ...base, subject: 'alice\ufeff' }), 'subject'],
    ['decomposed look-alike', await signAssertion(key, { ...base, subject: 'a\u0301lice' }), 'subject'],
    ['forged challenge id', await signAssertion(key, { ...base, challengeId: `${challengeId.slice(0, -4)}AAAA` }), 'challenge'],
    ['not a JWT', 'definitely-not-a-token', 'malformed'],
  ];

  for (const [index, [name, assertion, reason]] of cases.entries()) {
    const before = upstream.logins.length;
    const reply = await proxiedLogin(gateway, '203.0.113.50', 'wonderland', { [STEP_UP_HEADER]: assertion });
    // Twenty guesses and the owner's first login come before the cases.
    const line = (await waitForDecisions(gateway.logs, 22 + index))[21 + index];

    t.equal(reply.status, 401, `${name}: challenged`);
    t.equal(upstream.logins.length, before, `${name}: not forwarded`);
    t.same(line.riskgate.step_up, { ok: false, reason }, `${name}: logged as ${reason}`);
    t.notOk(gateway.logs.text.includes(assertion), `${name}: the token is not logged`);
  }
});

t.test('challenge of another account is refused', async (t) => {
  const { clock, upstream, gateway } = await setup(t);
  const key = gateway.stepUpSigningKey!;
  // Bob's challenge, from his own brute-forced account, must not unlock alice.
  for (let index = 1; index <= 5; index += 1) {
    await login(gateway.port, 'bob', 'guess', { headers: { 'x-forwarded-for': `192.0.2.${index}` } });
  }
  const bob = await login(gateway.port, 'bob', 'guess', { headers: { 'x-forwarded-for': '192.0.2.9' } });
  const assertion = await signAssertion(key, { subject: 'alice', challengeId: challengeOf(bob).id, nowMs: clock.now });
  const before = upstream.logins.length;

  const reply = await proxiedLogin(gateway, '203.0.113.50', 'wonderland', { [STEP_UP_HEADER]: assertion });

  t.equal(reply.status, 401);
  t.equal(upstream.logins.length, before, 'not forwarded');
  const decisions = await waitForDecisions(gateway.logs, 27);
  t.same(decisions[26].riskgate.step_up, { ok: false, reason: 'challenge' });
});

t.test('forward mode sends a signed risk header', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { challenge: { mode: 'forward' } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 6; index += 1) {
    await login(gateway.port, `user${index}`, 'x', { source: '127.0.0.11', headers: { 'riskgate-risk': 'forged' } });
  }

  t.equal(upstream.logins.length, 6, 'the challenged login is forwarded too');
  t.equal(upstream.logins[0].headers['riskgate-risk'], undefined, "an allowed login carries no header, not even the client's");
  const token = String(upstream.logins[5].headers['riskgate-risk']);
  // The app verifies with the key that `riskgate risk-key` prints, never with the master secret.
  ensureBuilt();
  const printed = runCli(['risk-key'], cleanEnv({ RISKGATE_SECRET: TEST_SECRET }));
  t.equal(printed.status, 0, printed.stderr);
  const appKey = Buffer.from(printed.stdout.trim(), 'base64url');
  t.equal(appKey.length, 32, 'a 256-bit key');
  const { payload, protectedHeader } = await jwtVerify(token, appKey, { issuer: 'riskgate', algorithms: ['HS256'] });
  t.equal(protectedHeader.alg, 'HS256');
  t.equal(payload.decision, 'challenge');
  t.same(payload.rules, ['stuffing.usernames-per-ip-rising']);
  t.equal(payload.sub, gateway.context.keys.pseudonymize('user5'), 'bound to the account pseudonym');
  const [line] = (await waitForDecisions(gateway.logs, 6)).slice(5);
  t.equal(payload.request_id, line.http.request.id, 'and to the request');
});

t.test('client risk header never passes through', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await send(gateway.port, { path: '/account', headers: { 'riskgate-risk': 'forged' } });

  t.equal(upstream.requests[0].headers['riskgate-risk'], undefined, 'stripped from other paths too');
});

t.test('forward mode learns nothing from a challenged login the app accepts', async (t) => {
  // The app's 200 to a challenged login may only ask for its second factor, and riskgate
  // cannot see that pass. So a password alone must not make the next login look familiar.
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { challenge: { mode: 'forward' } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 5; index += 1) {
    await login(gateway.port, `user${index}`, 'x', { source: '127.0.0.21' });
  }
  const challenged = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.21' });
  const next = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.22' });
  const decisions = await waitForDecisions(gateway.logs, 7);

  t.equal(decisions[5].riskgate.decision, 'challenge');
  t.equal(challenged.status, 200, 'the app accepted the password');
  t.equal(challenged.headers['set-cookie'], undefined, 'no device cookie for an unconfirmed success');
  t.equal(decisions[6].riskgate.signals.account.first_login, true, 'the profile did not learn from it');
  t.match(String(next.headers['set-cookie']), /^__Host-rg_device=/, 'an allowed success still gets its cookie');
});

t.test('a challenge id does not reveal the account pseudonym', async (t) => {
  // The pseudonym is the decision log's user.name; a client that chose the username must
  // not learn it from the challenge it gets back.
  const { gateway, guesses } = await setup(t);
  const id = challengeOf(guesses[19]).id;
  const payload = JSON.parse(Buffer.from(id.split('.')[1], 'base64url').toString('utf8'));
  const pseudonym = gateway.context.keys.pseudonymize('alice');

  t.equal(typeof payload.sub, 'string');
  t.not(payload.sub, pseudonym, 'the challenge names the account by another digest');
  t.notOk(id.includes(pseudonym) || Buffer.from(id.split('.')[1], 'base64url').toString('utf8').includes(pseudonym),
    'the pseudonym appears nowhere in the id');

  // Challenge ids land in URLs and access logs, so two of one account must not share a tag.
  const other = JSON.parse(Buffer.from(challengeOf(guesses[18]).id.split('.')[1], 'base64url').toString('utf8'));
  t.not(other.sub, payload.sub, 'two challenges of one account carry different digests');
});

t.test('a challenged login without a username is told to send one, not sent to an MFA it cannot pass', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // curl's user agent without browser headers is challenged by the default rules.
  const reply = await send(gateway.port, {
    method: 'POST', path: '/login', body: '{"password":"wonderland"}',
    headers: { 'user-agent': 'curl/8.5.0', accept: '*/*', 'content-type': 'application/json' },
  });
  t.equal(reply.status, 401);
  t.equal(reply.json().challenge, undefined, 'no challenge id is issued');
  t.match(reply.json().detail, /send the username in the field "username"/);
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.decision, 'challenge');
});

import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import t from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { StepUpVerifier } from '../../src/challenge/step-up.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log/logger.js';
import { DEFAULT_RULES, LogCapture, PROJECT_ROOT, TEST_SECRET, login } from '../helpers/gateway.js';
import { signAssertion, unsignedAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

const mfa = await generateKeyPair('ES256', { extractable: true });
const attacker = await generateKeyPair('ES256', { extractable: true });
const publicPem = await exportSPKI(mfa.publicKey);
const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'attacker', alg: 'ES256', use: 'sig' };

// A key server on loopback: the gateway must never fetch a key a token points at.
let keyFetches = 0;
const keyServer = http.createServer((_request, response) => {
  keyFetches += 1;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ keys: [attackerJwk] }));
});
await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
const keyUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/jwks.json`;

const directory = mkdtempSync(join(tmpdir(), 'riskgate-step-up-'));
const publicKeyFile = join(directory, 'mfa-public.pem');
writeFileSync(publicKeyFile, publicPem);

const upstream = await new RecordingUpstream().start();
const logs = new LogCapture();
const config = loadConfigObject(
  {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstream: upstream.url,
    rules: [DEFAULT_RULES],
    store: { url: 'memory', key_prefix: 'rgstepup' },
    challenge: { mode: 'step-up', issuer: 'test-mfa', audience: 'riskgate', algorithms: ['ES256'], public_key_file: publicKeyFile },
    log: { level: 'debug' },
  },
  PROJECT_ROOT,
  { env: {}, secret: TEST_SECRET },
);
const gateway = await startGateway(config, { logger: createLogger(config.log, logs).logger });
const port = Number(new URL(gateway.url).port);

t.teardown(async () => {
  await gateway.close();
  await upstream.stop();
  keyServer.close();
});

/** Claims as the real MFA service would sign them for `challengeId`. */
function claims(challengeId: string, subject = 'target') {
  const now = Math.floor(Date.now() / 1000);
  return { riskgate_challenge: challengeId, iss: 'test-mfa', aud: 'riskgate', sub: subject, jti: randomUUID(), iat: now, exp: now + 120 };
}

function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

// Each test logs in from a loopback address of its own, so address counters stay apart.
let source = '127.0.0.1';

async function challengeFor(username: string): Promise<string> {
  const reply = await login(port, username, 'not-the-password', { source });
  if (reply.status !== 401) throw new Error(`expected a challenge for ${username}, got ${reply.status}`);
  return reply.json().challenge.id as string;
}

/** Send a login carrying `assertion`, and return its status and decision line. */
async function presentAssertion(username: string, assertion: string) {
  const before = upstream.logins.length;
  const decisionsBefore = logs.decisions.length;
  const reply = await login(port, username, 'wonderland', { source, headers: { 'riskgate-step-up': assertion } });
  await waitFor(() => logs.decisions.length > decisionsBefore, 'the decision line');
  return { status: reply.status, forwarded: upstream.logins.length - before, decision: logs.decisions[logs.decisions.length - 1] };
}

// Five failures put the account under challenge for every later login.
for (let index = 0; index < 5; index += 1) await login(port, 'target', `guess-${index}`);

t.test('forged assertions are rejected and not forwarded', async (t) => {
  const challengeId = await challengeFor('target');
  const hmacSecret = new TextEncoder().encode(publicPem);
  const cases: [string, () => Promise<string>, string][] = [
    ['alg none', async () => unsignedAssertion({ subject: 'target', challengeId, nowMs: Date.now() }), 'algorithm_not_allowed'],
    ['alg none upper case', async () => forge({ alg: 'NONE' }, claims(challengeId)), 'algorithm_not_allowed'],
    ['HS256 keyed with the public key PEM', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'HS256' }).sign(hmacSecret), 'algorithm_not_allowed'],
    ['embedded jwk', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', jwk: attackerJwk }).sign(attacker.privateKey), 'embedded_key'],
    ['jku pointing at an attacker key set', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', kid: 'attacker', jku: keyUrl }).sign(attacker.privateKey), 'embedded_key'],
    ['x5u pointing at an attacker certificate', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', x5u: keyUrl }).sign(attacker.privateKey), 'embedded_key'],
    ['x5c chain in the header', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', x5c: ['MIIB'] }).sign(attacker.privateKey), 'embedded_key'],
    ['kid path traversal signed by another key', () =>
      new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', kid: '../../../../dev/null' }).sign(attacker.privateKey), 'signature'],
    ['valid header with a stripped signature', async () =>
      (await signAssertion(mfa.privateKey, { subject: 'target', challengeId, nowMs: Date.now() })).replace(/[^.]+$/, ''), 'signature'],
    ['two tokens in one header', async () =>
      `${await signAssertion(mfa.privateKey, { subject: 'target', challengeId, nowMs: Date.now() })}, x.y.z`, 'malformed'],
  ];

  for (const [name, build, reason] of cases) {
    const assertion = await build();
    const result = await presentAssertion('target', assertion);
    t.equal(result.status, 401, `${name}: the client is challenged again`);
    t.equal(result.forwarded, 0, `${name}: nothing reaches the app`);
    t.equal(result.decision.riskgate.step_up?.ok, false, `${name}: the step-up is logged as failed`);
    t.equal(result.decision.riskgate.step_up?.reason, reason, `${name}: the log says why`);
    t.notOk(logs.text.includes(assertion.split('.')[1]), `${name}: the token is not logged`);
  }
  t.equal(keyFetches, 0, 'no key URL from a token was fetched');
});

t.test('valid assertions are bound to account, challenge and single use', async (t) => {
  source = '127.0.0.2';
  const challengeId = await challengeFor('target');
  const otherChallenge = await (async () => {
    for (let index = 0; index < 5; index += 1) await login(port, 'other', `guess-${index}`, { source });
    return challengeFor('other');
  })();
  const now = Date.now();

  const foreign = await presentAssertion('target', await signAssertion(mfa.privateKey, { subject: 'other', challengeId, nowMs: now }));
  t.equal(foreign.decision.riskgate.step_up.reason, 'subject', 'an assertion for another user is rejected');
  t.equal(foreign.forwarded, 0);

  const crossed = await presentAssertion('target', await signAssertion(mfa.privateKey, { subject: 'target', challengeId: otherChallenge, nowMs: now }));
  t.equal(crossed.decision.riskgate.step_up.reason, 'challenge', "another account's challenge is rejected");
  t.equal(crossed.forwarded, 0);

  const expired = await presentAssertion('target', await signAssertion(mfa.privateKey, { subject: 'target', challengeId, nowMs: now, lifetimeSeconds: -60 }));
  t.equal(expired.decision.riskgate.step_up.reason, 'expired');
  t.equal(expired.forwarded, 0);

  const issuer = await presentAssertion('target', await signAssertion(mfa.privateKey, { subject: 'target', challengeId, nowMs: now, issuer: 'evil' }));
  t.equal(issuer.decision.riskgate.step_up.reason, 'issuer');
  t.equal(issuer.forwarded, 0);

  const genuine = await signAssertion(mfa.privateKey, { subject: 'target', challengeId, nowMs: now });
  const accepted = await presentAssertion('target', genuine);
  t.equal(accepted.status, 200, 'the genuine assertion lets the owner in');
  t.equal(accepted.forwarded, 1);
  t.equal(accepted.decision.riskgate.step_up.ok, true);
  t.equal(upstream.logins[upstream.logins.length - 1].headers['riskgate-step-up'], undefined, 'the assertion is not forwarded');

  const replayed = await presentAssertion('target', genuine);
  t.equal(replayed.status, 401, 'the same assertion a second time is challenged');
  t.equal(replayed.decision.riskgate.step_up.reason, 'replay');
  t.equal(replayed.forwarded, 0);
});

t.test('time claims are read strictly, each failure with its own reason', async (t) => {
  source = '127.0.0.4';
  for (let index = 0; index < 5; index += 1) await login(port, 'timed', `guess-${index}`, { source });
  const challengeId = await challengeFor('timed');
  const now = Math.floor(Date.now() / 1000);
  const sign = (extra: Record<string, unknown>) =>
    new SignJWT({ ...claims(challengeId, 'timed'), ...extra }).setProtectedHeader({ alg: 'ES256' }).sign(mfa.privateKey);

  // An assertion issued in the future would pass the check that refuses assertions issued
  // before a store lost its data, and could then be replayed.
  const cases: [string, Record<string, unknown>, string][] = [
    ['iat two minutes ahead', { iat: now + 120 }, 'not_yet_valid'],
    ['iat 1e300', { iat: 1e300 }, 'not_yet_valid'],
    ['iat as text', { iat: 'x' }, 'invalid_claim'],
    ['nbf two minutes ahead', { nbf: now + 120 }, 'not_yet_valid'],
    ['jti as a number', { jti: 5 }, 'invalid_claim'],
    ['jti of 129 characters', { jti: 'j'.repeat(129) }, 'invalid_claim'],
  ];
  for (const [name, extra, reason] of cases) {
    const result = await presentAssertion('timed', await sign(extra));
    t.equal(result.status, 401, `${name}: challenged again`);
    t.equal(result.forwarded, 0, `${name}: nothing reaches the app`);
    t.equal(result.decision.riskgate.step_up?.reason, reason, `${name}: ${reason}`);
  }

  const skewed = await presentAssertion('timed', await sign({ iat: now + 3 }));
  t.equal(skewed.status, 200, 'an iat within the clock tolerance passes');
});

t.test('an assertion signed under a key id the key set lacks is named as an unknown key', async (t) => {
  // A verifier of its own with a JSON Web Key Set file, as an MFA service that rotates keys publishes.
  const jwksFile = join(directory, 'mfa-keys.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(mfa.publicKey)), kid: 'current', alg: 'ES256' }] }));
  const jwksConfig = loadConfigObject(
    { upstream: upstream.url, challenge: { mode: 'step-up', issuer: 'test-mfa', audience: 'riskgate', algorithms: ['ES256'], jwks_file: jwksFile } },
    PROJECT_ROOT,
    { env: {}, secret: TEST_SECRET },
  );
  const verifier = await StepUpVerifier.create(jwksConfig.challenge, new Uint8Array(32));
  const pseudonym = 'account-pseudonym';
  const challengeId = await verifier.issueChallenge(pseudonym);
  const sign = (kid: string) =>
    new SignJWT(claims(challengeId)).setProtectedHeader({ alg: 'ES256', kid }).sign(mfa.privateKey);
  const read = (subject: string) => subject;

  t.same(await verifier.verify(await sign('retired'), 'target', pseudonym, read), { ok: false, reason: 'unknown_key' });
  t.match(await verifier.verify(await sign('current'), 'target', pseudonym, read), { ok: true }, 'the listed key id passes');
});

t.test('forged assertion on a harmless login is not forwarded', async (t) => {
  source = '127.0.0.3';
  const challengeId = await (async () => {
    const reply = await login(port, 'bystander', 'wonderland', { source });
    t.equal(reply.status, 200, 'the login alone would be allowed');
    return 'not-a-challenge';
  })();

  const result = await presentAssertion('bystander', unsignedAssertion({ subject: 'bystander', challengeId, nowMs: Date.now() }));

  t.equal(result.status, 401, 'a login with a forged assertion is challenged');
  t.equal(result.forwarded, 0);
  t.equal(result.decision.riskgate.decision, 'challenge');
  t.equal(result.decision.riskgate.step_up.reason, 'algorithm_not_allowed');
});

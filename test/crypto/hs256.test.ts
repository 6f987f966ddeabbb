import { createHmac } from 'node:crypto';

import { SignJWT, jwtVerify } from 'jose';
import t from 'tap';

import { signHs256, verifyHs256 } from '../../src/crypto/hs256.js';

const KEY = new Uint8Array(32).fill(7);
const OTHER_KEY = new Uint8Array(32).fill(8);
const NOW = 1_750_000_000;

function token(claims: Record<string, unknown>): string {
  return signHs256(claims, KEY);
}

/** Sign arbitrary header and payload JSON with KEY, for tokens signHs256 would never write. */
function handmade(header: unknown, payload: unknown): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', KEY).update(input).digest('base64url')}`;
}

t.test('jose verifies what signHs256 signs', async (t) => {
  const signed = token({ sub: 'device-1', iat: NOW, exp: NOW + 60 });
  const { payload, protectedHeader } = await jwtVerify(signed, KEY, { algorithms: ['HS256'], currentDate: new Date(NOW * 1000) });

  t.same(protectedHeader, { alg: 'HS256' });
  t.equal(payload.sub, 'device-1');
  t.equal(payload.exp, NOW + 60);
});

t.test('verifyHs256 accepts what jose signs', async (t) => {
  const signed = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('device-2').setIssuedAt(NOW).setExpirationTime(NOW + 60).sign(KEY);

  const claims = verifyHs256(signed, KEY, { now: NOW, required: ['sub'] });

  t.equal(claims?.sub, 'device-2');
  t.equal(signed, token({ sub: 'device-2', iat: NOW, exp: NOW + 60 }), 'both write the same bytes');
});

t.test('verifyHs256 rejects forged and stale tokens', async (t) => {
  const valid = token({ sub: 'device-3', exp: NOW + 60 });
  const [header, payload, signature] = valid.split('.');
  const otherPayload = Buffer.from(JSON.stringify({ sub: 'device-4', exp: NOW + 60 })).toString('base64url');
  const cases: [string, string][] = [
    ['another key', signHs256({ sub: 'device-3', exp: NOW + 60 }, OTHER_KEY)],
    ['a changed payload', `${header}.${otherPayload}.${signature}`],
    ['a cut signature', `${header}.${payload}.${signature.slice(0, -2)}`],
    ['no signature', `${header}.${payload}.`],
    ['two segments', `${header}.${payload}`],
    ['four segments', `${valid}.${signature}`],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`],
    ['a header with a key id', handmade({ alg: 'HS256', kid: 'x' }, { sub: 'device-3', exp: NOW + 60 })],
    ['a header with crit', handmade({ alg: 'HS256', crit: ['b64'], b64: false }, { sub: 'device-3', exp: NOW + 60 })],
    ['exp now', token({ sub: 'device-3', exp: NOW })],
    ['exp past', token({ sub: 'device-3', exp: NOW - 1 })],
    ['no exp', token({ sub: 'device-3' })],
    ['exp as text', token({ sub: 'device-3', exp: String(NOW + 60) })],
    ['nbf in the future', token({ sub: 'device-3', exp: NOW + 60, nbf: NOW + 1 })],
    ['iat as text', token({ sub: 'device-3', exp: NOW + 60, iat: 'yesterday' })],
    ['a payload that is an array', handmade({ alg: 'HS256' }, [NOW + 60])],
    ['a payload that is not JSON', `${header}.${Buffer.from('not json').toString('base64url')}.${createHmac('sha256', KEY).update(`${header}.${Buffer.from('not json').toString('base64url')}`).digest('base64url')}`],
    ['padding characters', `${header}.${payload}=.${signature}`],
  ];

  for (const [name, candidate] of cases) {
    t.equal(verifyHs256(candidate, KEY, { now: NOW, required: ['sub'] }), undefined, name);
  }
});

t.test('verifyHs256 requires the named claims', async (t) => {
  const withoutSubject = token({ exp: NOW + 60 });

  t.ok(verifyHs256(withoutSubject, KEY, { now: NOW }), 'accepted without a requirement');
  t.equal(verifyHs256(withoutSubject, KEY, { now: NOW, required: ['sub'] }), undefined, 'rejected when sub is required');
  t.equal(verifyHs256(token({ exp: NOW + 60, toString: 'x' }), KEY, { now: NOW, required: ['sub'] }), undefined, 'other claims do not stand in');
});

t.test('verifyHs256 accepts a token until exp', async (t) => {
  const signed = token({ sub: 'device-5', nbf: NOW, exp: NOW + 60 });

  t.equal(verifyHs256(signed, KEY, { now: NOW })?.sub, 'device-5', 'valid from nbf');
  t.equal(verifyHs256(signed, KEY, { now: NOW + 59 })?.sub, 'device-5', 'valid one second before exp');
  t.equal(verifyHs256(signed, KEY, { now: NOW + 60 }), undefined, 'expired at exp');
});

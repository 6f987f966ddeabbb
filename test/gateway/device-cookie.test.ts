import { createHmac } from 'node:crypto';

import t from 'tap';

import { DeviceCookies } from '../../src/challenge/device-cookie.js';
import { signHs256 } from '../../src/crypto/hs256.js';

const KEY = new Uint8Array(32).fill(7);
const OPTIONS = { name: 'rg_device', maxAgeMs: 86_400_000, secure: true, sameSite: 'lax' as const };
const ALICE = { pseudonym: 'alice-pseudonym', exact: 'alice' };

t.test('legacy cookie digest is replaced', async (t) => {
  const cookies = new DeviceCookies(KEY, OPTIONS, () => 1_700_000_000_000);
  // Earlier releases named an account by the same digest on every device.
  const legacy = createHmac('sha256', KEY).update('device-account:alice-pseudonym').digest('base64url').slice(0, 16);
  const token = signHs256({ sub: 'device-1', acc: ['other-account-00', legacy], iat: 1_700_000_000, exp: 1_700_086_400 }, KEY);

  const read = await cookies.read(`rg_device=${token}`, ALICE);
  t.equal(read?.bound, true, 'the old cookie still vouches for alice');
  t.equal((await cookies.read(`rg_device=${token}`, { pseudonym: 'bob-pseudonym', exact: 'bob' }))?.bound, false, 'and for no one else');

  const issued = await cookies.issue(read!.id, read!.accounts, ALICE);
  const value = issued.split(';')[0].slice('rg_device='.length);
  const claims = JSON.parse(Buffer.from(value.split('.')[1], 'base64url').toString());
  t.equal(claims.sub, 'device-1', 'the device keeps its id');
  t.equal(claims.acc.length, 2, 'alice is named once');
  t.notOk(claims.acc.includes(legacy), 'by the digest of this device');
  t.equal((await cookies.read(`rg_device=${value}`, ALICE))?.bound, true, 'which vouches for her');
});

t.test('look-alike account cookie is unbound', async (t) => {
  const cookies = new DeviceCookies(KEY, OPTIONS, () => 1_700_000_000_000);
  // Counters read cárol as carol, so both spellings share one pseudonym.
  const issued = await cookies.issue(undefined, [], { pseudonym: 'carol-pseudonym', exact: 'cárol' });
  const value = issued.split(';')[0];

  t.equal((await cookies.read(value, { pseudonym: 'carol-pseudonym', exact: 'cárol' }))?.bound, true, 'it vouches for cárol');
  t.equal((await cookies.read(value, { pseudonym: 'carol-pseudonym', exact: 'carol' }))?.bound, false, 'not for carol');
});

import { randomBytes } from 'node:crypto';

import t, { type Test } from 'tap';

import { REDIS_URL, login, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { ADMIN_TOKEN, admin } from './client.js';

async function startWithFailures(t: Test): Promise<TestGateway> {
  const prefix = `rgta${randomBytes(4).toString('hex')}`;
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: REDIS_URL, key_prefix: prefix, timeout: '200ms' }, admin: { token: ADMIN_TOKEN } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await deleteKeysWithPrefix(prefix);
  });

  for (let index = 0; index < 3; index += 1) {
    await login(gateway.port, 'bob', 'wrong', { source: '127.0.0.5' });
  }
  await login(gateway.port, 'carol', 'wrong', { source: '127.0.0.5' });
  await waitForDecisions(gateway.logs, 4);
  return gateway;
}

function valueOf(reply: { json(): any }, name: string): number | undefined {
  return reply.json().counters.find((counter: { name: string }) => counter.name === name)?.value;
}

t.test('counter lookup by account', async (t) => {
  const gateway = await startWithFailures(t);

  const reply = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: { username: 'Bob' } });
  const names = reply.json().not_read.map((counter: { name: string }) => counter.name);

  t.equal(reply.status, 200);
  t.equal(valueOf(reply, 'failures_per_account'), 3);
  t.match(reply.json().target.username, /^[0-9a-f]{32}$/);
  t.ok(names.includes('failures_per_account_ip'), 'a counter that also needs the address is not read');
  t.ok(names.includes('failures_per_fingerprint'), 'a fingerprint counter is not read');
});

t.test('counter lookup by address', async (t) => {
  const gateway = await startWithFailures(t);

  const reply = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: { ip: '127.0.0.5' } });

  t.equal(reply.status, 200);
  t.equal(valueOf(reply, 'failures_per_ip'), 4);
  t.equal(valueOf(reply, 'attempts_per_ip'), 4);
  t.equal(valueOf(reply, 'usernames_per_ip'), 2);
  t.equal(valueOf(reply, 'usernames_per_prefix'), 2);
  t.equal(reply.json().target.ip_prefix, '127.0.0.0/24');
});

t.test('counter lookup by address and account', async (t) => {
  const gateway = await startWithFailures(t);

  const reply = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', {
    body: { ip: '127.0.0.5', username: 'bob' },
  });
  const invalid = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: { ip: 'nowhere' } });
  const empty = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: {} });

  t.equal(valueOf(reply, 'failures_per_account_ip'), 3);
  t.equal(invalid.status, 400);
  t.match(invalid.json().detail, /ip "nowhere" is not an IPv4 or IPv6 address/);
  t.equal(empty.status, 400);
  t.equal(empty.json().detail, 'give ip, username or both');
});

t.test('account export and erase', async (t) => {
  const gateway = await startWithFailures(t);
  await login(gateway.port, 'bob', 'wonderland', { source: '127.0.0.6' });
  await waitForDecisions(gateway.logs, 5);
  await admin(gateway.adminPort, 'POST', '/v1/manual-entries', {
    body: { action: 'block', username: 'bob', ttl: '1h', reason: 'test' },
  });

  const exported = await admin(gateway.adminPort, 'POST', '/v1/accounts/export', { body: { username: 'bob' } });
  const erased = await admin(gateway.adminPort, 'POST', '/v1/accounts/erase', { body: { username: 'bob' } });
  const after = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: { username: 'bob', ip: '127.0.0.5' } });
  const exportedAfter = await admin(gateway.adminPort, 'POST', '/v1/accounts/export', { body: { username: 'bob' } });
  const other = await admin(gateway.adminPort, 'POST', '/v1/counters/lookup', { body: { username: 'carol' } });
  const entries = await admin(gateway.adminPort, 'GET', '/v1/manual-entries');
  const retained = erased.json().retained.map((counter: { name: string }) => counter.name);

  t.equal(exported.status, 200);
  t.equal(valueOf(exported, 'failures_per_account'), 3);
  t.equal(valueOf(exported, 'failures_per_account_ip'), 3, 'the export holds the account-and-address counter');
  t.equal(exported.json().profile.successes, 1, 'the export holds the login profile');
  t.equal(exported.json().manual_entry.action, 'block');
  t.equal(erased.status, 200);
  t.ok(erased.json().keys_deleted > 2, 'the profile, the index and counter keys were deleted');
  t.equal(erased.json().profile_erased, true);
  t.equal(erased.json().manual_entry_removed, false, 'the manual block stays, so an erasure request cannot lift it');
  t.equal(erased.json().manual_block_kept.id, entries.json().entries[0]?.id, 'the response names the kept block');
  t.same(retained, ['usernames_per_ip', 'signed_in_per_ip', 'usernames_per_prefix', 'signed_in_per_prefix'], 'only the distinct-username sets are retained');
  t.equal(valueOf(after, 'failures_per_account'), 0);
  t.equal(valueOf(after, 'failures_per_account_ip'), 0, 'the account-and-address counter is erased too');
  t.equal(exportedAfter.json().profile, null, 'the profile is gone');
  t.equal(valueOf(other, 'failures_per_account'), 1, "another account's counters stay");
  t.equal(entries.json().entries.length, 1, 'the block is still listed');
  t.equal((await login(gateway.port, 'bob', 'wonderland', { source: '127.0.0.6' })).status, 403, 'and still applies');

  const audit = gateway.logs.lines.filter((line) => line.event?.action === 'admin-account-erase');
  t.equal(audit.length, 1);
  t.equal(audit[0].riskgate.admin.target.value, erased.json().account.pseudonym);
  t.notOk(gateway.logs.text.includes('"bob"'), 'no log line holds the username');
});

t.test('unknown admin path and method', async (t) => {
  const gateway = await startWithFailures(t);

  const unknown = await admin(gateway.adminPort, 'GET', '/v1/everything');
  const wrongMethod = await admin(gateway.adminPort, 'GET', '/v1/accounts/erase');

  t.equal(unknown.status, 404);
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.allow, 'POST');
});

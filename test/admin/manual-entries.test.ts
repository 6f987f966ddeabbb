import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import t, { type Test } from 'tap';

import { REDIS_URL, login, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { ADMIN_TOKEN, admin, curlLogin } from './client.js';

/** Two gateways sharing one Redis key prefix, as two instances of one fleet. */
async function startFleet(
  t: Test,
  extraConfig: Record<string, unknown> = {},
): Promise<{ first: TestGateway; second: TestGateway; upstream: RecordingUpstream }> {
  const prefix = `rgtm${randomBytes(4).toString('hex')}`;
  const upstream = await new RecordingUpstream().start();
  const config = {
    store: { url: REDIS_URL, key_prefix: prefix, timeout: '200ms' },
    admin: { token: ADMIN_TOKEN },
    ...extraConfig,
  };
  const first = await startTestGateway({ upstream: upstream.url, config });
  const second = await startTestGateway({ upstream: upstream.url, config });
  t.teardown(async () => {
    await first.close();
    await second.close();
    await upstream.stop();
    await deleteKeysWithPrefix(prefix);
  });
  return { first, second, upstream };
}

function addEntry(gateway: TestGateway, body: Record<string, unknown>) {
  return admin(gateway.adminPort, 'POST', '/v1/manual-entries', { body: { ttl: '10m', reason: 'test', ...body } });
}

t.test('IP block applies on every instance', async (t) => {
  const { first, second, upstream } = await startFleet(t);

  const added = await addEntry(first, { action: 'block', ip: '127.0.0.2', reason: 'credential stuffing from here' });
  const blocked = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.2' });
  const other = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.3' });
  const blockedOnFirst = await login(first.port, 'alice', 'wonderland', { source: '127.0.0.2' });
  const [blockedLine] = await waitForDecisions(second.logs, 2);

  t.equal(added.status, 201);
  t.equal(added.json().entry.id, 'ip:127.0.0.2');
  t.equal(added.json().entry.created_by.startsWith('tok_'), true);
  t.equal(blocked.status, 403);
  t.equal(other.status, 200);
  t.equal(blockedOnFirst.status, 403, 'the instance that added the entry blocks too');
  t.equal(upstream.logins.length, 1, 'the blocked logins never reached the app');
  t.equal(blockedLine.riskgate.decision, 'block');
  t.equal(blockedLine.riskgate.manual, 'block');
  t.equal(blockedLine.riskgate.manual_entry, 'ip:127.0.0.2');

  const removed = await admin(second.adminPort, 'DELETE', '/v1/manual-entries/ip:127.0.0.2');
  const again = await login(first.port, 'alice', 'wonderland', { source: '127.0.0.2' });

  t.equal(removed.status, 200);
  t.equal(removed.json().removed.reason, 'credential stuffing from here');
  t.equal(again.status, 200);
});

t.test('username block uses the normalised account', async (t) => {
  const { first, second } = await startFleet(t);

  const added = await addEntry(first, { action: 'block', username: '  Mallory ' });
  const blocked = await login(second.port, 'MALLORY', 'wonderland');
  const other = await login(second.port, 'alice', 'wonderland');
  const listed = await admin(second.adminPort, 'GET', '/v1/manual-entries');

  t.equal(added.status, 201);
  t.equal(blocked.status, 403);
  t.equal(other.status, 200);
  t.equal(listed.json().entries.length, 1);
  t.equal(listed.json().entries[0].type, 'username');
  t.match(listed.json().entries[0].value, /^[0-9a-f]{32}$/);
  t.notOk(listed.body.toLowerCase().includes('mallory'), 'the username is stored only as its pseudonym');
});

t.test('CIDR block applies after a version change', async (t) => {
  const { first, second } = await startFleet(t);

  // A login first, so the second instance holds an (empty) list before the entry exists.
  t.equal((await login(second.port, 'alice', 'wonderland', { source: '127.0.0.5' })).status, 200);
  const added = await addEntry(first, { action: 'block', cidr: '127.0.0.5/30' });
  const inside = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.6' });
  const outside = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.9' });

  t.equal(added.json().entry.id, 'cidr:127.0.0.4/30');
  t.equal(inside.status, 403);
  t.equal(outside.status, 200);

  const removed = await admin(first.adminPort, 'DELETE', `/v1/manual-entries/${encodeURIComponent('cidr:127.0.0.4/30')}`);
  const after = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.6' });

  t.equal(removed.status, 200);
  t.equal(after.status, 200);
});

t.test('IPv6 ip entry names its /64', async (t) => {
  // The loopback peer is a trusted proxy, so X-Forwarded-For plays IPv6 clients.
  const { first, second } = await startFleet(t, { trusted_proxies: ['127.0.0.1'] });
  const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });

  const rejected = await addEntry(first, { action: 'block', ip: '2001:db8:1:2::1' });
  t.equal(rejected.status, 400);
  t.match(rejected.json().detail, /ip "2001:db8:1:2::1" is an IPv6 address/);
  t.match(rejected.json().detail, /Send cidr "2001:db8:1:2::\/64" to cover the network/);

  const added = await addEntry(first, { action: 'block', cidr: '2001:db8:1:2::/64' });
  const blocked = await login(second.port, 'alice', 'wonderland', from('2001:db8:1:2::1'));
  const neighbour = await login(second.port, 'alice', 'wonderland', from('2001:db8:1:2::2'));
  const outside = await login(second.port, 'alice', 'wonderland', from('2001:db8:1:3::1'));

  t.equal(added.status, 201);
  t.equal(blocked.status, 403, 'the address named first is blocked');
  t.equal(neighbour.status, 403, 'the next address of its /64 is blocked too');
  t.equal(outside.status, 200, 'another /64 gets through');

  const mapped = await addEntry(first, { action: 'block', ip: '::ffff:192.0.2.9' });
  t.equal(mapped.status, 201, 'an IPv4-mapped IPv6 address is an IPv4 address');
  t.equal(mapped.json().entry.id, 'ip:192.0.2.9');

  const nat64 = await addEntry(first, { action: 'block', ip: '64:ff9b::192.0.2.10' });
  t.equal(nat64.json().entry.id, 'ip:192.0.2.10', 'so is a NAT64 address');
  const nat64Network = await addEntry(first, { action: 'block', cidr: '64:ff9b::c000:200/120' });
  t.equal(nat64Network.json().entry.id, 'cidr:192.0.2.0/24', 'and a NAT64 network is its IPv4 network');
  const blockedThrough = await login(second.port, 'alice', 'wonderland', from('64:ff9b::192.0.2.77'));
  t.equal(blockedThrough.status, 403, 'which blocks its clients');
  // Where the local-use NAT64 block holds the IPv4 client depends on each network's prefix
  // length, so its networks stay IPv6.
  const localUse = await addEntry(first, { action: 'block', cidr: '64:ff9b:1::cb00:7100/120' });
  t.equal(localUse.json().entry.id, 'cidr:64:ff9b:1::cb00:7100/120', 'a network in the local-use NAT64 block stays IPv6');
  const blockedLocalUse = await login(second.port, 'alice', 'wonderland', from('64:ff9b:1::203.0.113.5'));
  t.equal(blockedLocalUse.status, 403, 'which blocks its clients');
});

t.test('manual allow overrides a rule decision', async (t) => {
  const { first, second, upstream } = await startFleet(t);

  const before = await curlLogin(second.port, '127.0.0.7');
  await addEntry(first, { action: 'allow', ip: '127.0.0.7' });
  const allowed = await curlLogin(second.port, '127.0.0.7');
  const lines = await waitForDecisions(second.logs, 2);

  t.equal(before.status, 401, 'a tool user agent without browser headers is challenged');
  t.equal(allowed.status, 200);
  t.equal(upstream.logins.length, 1);
  t.equal(lines[1].riskgate.manual, 'allow');
  t.equal(lines[1].riskgate.would_decision, 'challenge');
});

t.test('block beats allow', async (t) => {
  const { first, second } = await startFleet(t);

  await addEntry(first, { action: 'allow', username: 'alice' });
  await addEntry(first, { action: 'block', cidr: '127.0.0.0/29' });
  const reply = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.3' });

  t.equal(reply.status, 403);
});

t.test('an allow that replaces a block says so', async (t) => {
  const { first } = await startFleet(t);

  const block = await addEntry(first, { action: 'block', ip: '192.0.2.44', reason: 'stuffing source' });
  const allow = await addEntry(first, { action: 'allow', ip: '192.0.2.44', reason: 'office' });
  const audit = first.logs.lines.filter((line) => line.event?.action === 'admin-manual-entry-add').at(-1);

  t.equal(block.json().replaced, undefined, 'a new entry replaces nothing');
  t.equal(allow.status, 201);
  t.equal(allow.json().replaced?.action, 'block', 'the reply names the block it replaced');
  t.equal(allow.json().replaced?.reason, 'stuffing source');
  t.equal(audit?.riskgate.admin.details.replaced_action, 'block', 'and so does the audit line');
});

t.test('entry expires with its ttl', async (t) => {
  const { first, second } = await startFleet(t);

  await addEntry(first, { action: 'block', ip: '127.0.0.8', ttl: '700ms' });
  const during = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.8' });
  await sleep(900);
  const after = await login(second.port, 'alice', 'wonderland', { source: '127.0.0.8' });
  const listed = await admin(first.adminPort, 'GET', '/v1/manual-entries');

  t.equal(during.status, 403);
  t.equal(after.status, 200);
  t.same(listed.json().entries, []);
});

t.test('invalid entries are rejected with a problem', async (t) => {
  const { first } = await startFleet(t);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ action: 'block', cidr: '10.0.0.0/33' }, /cidr "10\.0\.0\.0\/33" is not a CIDR/],
    // An allow this wide would turn riskgate off for everyone.
    [{ action: 'allow', cidr: '0.0.0.0/0' }, /cidr "0\.0\.0\.0\/0" is wider than \/8/],
    [{ action: 'allow', cidr: '::/0' }, /cidr "::\/0" is wider than \/32/],
    [{ action: 'allow', cidr: '::ffff:0:0/96' }, /cidr "::ffff:0:0\/96" covers 0\.0\.0\.0\/0, which is wider than \/8/],
    [{ action: 'allow', cidr: '1.0.0.0/7' }, /cidr "1\.0\.0\.0\/7" covers 0\.0\.0\.0\/7, which is wider than \/8/],
    // IPv4-compatible addresses (::a.b.c.d) are read as IPv4 clients too.
    [{ action: 'allow', cidr: '::/96' }, /covers 0\.0\.0\.0\/0, which is wider than \/8/],
    [{ action: 'allow', cidr: '2000::/3' }, /is wider than \/32/],
    // NAT64, 6to4 and Teredo addresses carry IPv4 clients, which are judged by that address.
    [{ action: 'allow', cidr: '64:ff9b::/96' }, /covers 0\.0\.0\.0\/0, which is wider than \/8/],
    [{ action: 'allow', cidr: '64:ff9b::/64' }, /carry IPv4 clients.*give the IPv4 network instead/],
    [{ action: 'allow', cidr: '2002::/20' }, /covers 0\.0\.0\.0\/4, which is wider than \/8/],
    [{ action: 'allow', cidr: '2002::/16' }, /covers 0\.0\.0\.0\/0, which is wider than \/8/],
    [{ action: 'allow', cidr: '2001::/32' }, /carry IPv4 clients/],
    [{ action: 'block', cidr: '2001:0:4136:e378::/64' }, /carry IPv4 clients/],
    [{ action: 'block', ip: '10.1' }, /ip "10\.1" is not an IPv4 or IPv6 address/],
    [{ action: 'block', ip: '10.0.0.1', cidr: '10.0.0.0/8' }, /exactly one of ip, cidr or username/],
    [{ action: 'deny', ip: '10.0.0.1' }, /action must be "block" or "allow"/],
    [{ action: 'block', ip: '10.0.0.1', reason: ' ' }, /reason is missing/],
    [{ action: 'block', ip: '10.0.0.1', ttl: '400d' }, /within 365 days/],
    [{ action: 'block', ip: '10.0.0.1', ttl: 'soon' }, /ttl: invalid duration "soon"/],
    [{ action: 'block', ip: '10.0.0.1', expires_at: '2001-01-01T00:00:00Z', ttl: undefined }, /exactly one of ttl/],
  ];

  for (const [body, detail] of cases) {
    const reply = await admin(first.adminPort, 'POST', '/v1/manual-entries', {
      body: { ttl: '10m', reason: 'test', ...body, ...(body.expires_at ? { ttl: '1h' } : {}) },
    });
    t.equal(reply.status, 400, JSON.stringify(body));
    t.equal(reply.headers['content-type'], 'application/problem+json');
    t.match(reply.json().detail, detail);
  }

  const missing = await admin(first.adminPort, 'DELETE', '/v1/manual-entries/ip:192.0.2.1');
  t.equal(missing.status, 404);
  const notJson = await admin(first.adminPort, 'POST', '/v1/manual-entries', { body: 'x' });
  t.equal(notJson.status, 400);
  const repeated = await admin(first.adminPort, 'POST', '/v1/manual-entries',
    { raw: '{"action":"block","username":"alice","username":"bob","ttl":"10m","reason":"test"}' });
  t.equal(repeated.status, 400, 'a repeated key is rejected, not read as its last value');
  t.match(repeated.json().detail, /the key "username" appears more than once/);
});

t.test('admin actions write audit lines', async (t) => {
  const { first } = await startFleet(t);

  await addEntry(first, { action: 'block', username: 'mallory', reason: 'reported\nby the helpdesk' });
  await admin(first.adminPort, 'GET', '/v1/manual-entries');
  const audit = first.logs.lines.filter((line) => line.message === 'admin action');

  t.equal(audit.length, 2);
  t.equal(audit[0].event.action, 'admin-manual-entry-add');
  t.equal(audit[0].event.outcome, 'success');
  t.match(audit[0].riskgate.admin.actor, /^tok_[0-9a-f]{16}$/);
  t.equal(audit[0].riskgate.admin.target.type, 'username');
  t.match(audit[0].riskgate.admin.target.value, /^[0-9a-f]{32}$/);
  t.equal(audit[0].riskgate.admin.details.reason, 'reported\\u000aby the helpdesk');
  t.equal(audit[0].http.response.status_code, 201);
  t.equal(audit[1].event.action, 'admin-manual-entry-list');
  t.notOk(first.logs.text.includes('mallory'), 'no audit line holds the username');
  t.notOk(first.logs.text.includes(ADMIN_TOKEN), 'no audit line holds the token');
});

t.test('memory store keeps blocks through a login flood', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: 'memory', memory_max_entries: 1000 }, trusted_proxies: ['127.0.0.1'], admin: { token: ADMIN_TOKEN } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });

  t.equal((await addEntry(gateway, { action: 'block', ip: '203.0.113.7' })).status, 201);
  t.equal((await addEntry(gateway, { action: 'block', cidr: '192.0.2.0/24' })).status, 201);

  // Each failed login from a new address writes several counter keys, three times the
  // store's maximum in all, so every key older than the flood is evicted if values share
  // the counters' table.
  for (let index = 0; index < 500; index += 1) {
    const address = `10.${(index >> 8) & 255}.${index & 255}.1`;
    await login(gateway.port, `user${index}`, 'wrong', from(address));
  }

  t.equal((await login(gateway.port, 'alice', 'wonderland', from('203.0.113.7'))).status, 403, 'the IP block holds');
  t.equal((await login(gateway.port, 'alice', 'wonderland', from('192.0.2.9'))).status, 403, 'the CIDR block holds');
  const listed = await admin(gateway.adminPort, 'GET', '/v1/manual-entries');
  t.equal(listed.json().entries.length, 2, 'the admin API still lists both entries');
});

t.test('omit hides manual entry pseudonym', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { log: { username: 'omit' }, admin: { token: ADMIN_TOKEN } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await addEntry(gateway, { action: 'block', username: 'mallory@example.com' });
  const blocked = await login(gateway.port, 'mallory@example.com', 'x');
  const [line] = await waitForDecisions(gateway.logs, 1);

  t.equal(blocked.status, 403);
  t.equal(line.riskgate.manual, 'block');
  t.equal(line.riskgate.manual_entry, 'username', 'the entry is named by its kind only');
  t.notOk(JSON.stringify(line).includes(gateway.context.keys.pseudonymize('mallory@example.com')), 'the decision line carries no pseudonym');
});

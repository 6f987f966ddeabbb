import { randomBytes } from 'node:crypto';

import t, { type Test } from 'tap';

import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { ADMIN_TOKEN, admin } from './client.js';

/** Start a gateway with the admin API on, in front of a recording app; both stop when `t` ends. */
async function adminGateway(t: Test): Promise<TestGateway> {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { admin: { token: ADMIN_TOKEN } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return gateway;
}

t.test('a username entry id that is not a pseudonym is never logged', async (t) => {
  const gateway = await adminGateway(t);
  const marker = `plainuser${randomBytes(4).toString('hex')}`;

  const plain = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/username:${marker}`);
  const encoded = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/username%3A${marker}%40example.com`);
  // An id without the username: prefix, or with another one, may hold the username too.
  const bare = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/${marker}%40example.com`);
  const mistyped = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/user:${marker}`);
  const address = await admin(gateway.adminPort, 'DELETE', '/v1/manual-entries/ip:192.0.2.7');
  const unauthenticated = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/username:${marker}`, { token: null });
  const added = await admin(gateway.adminPort, 'POST', '/v1/manual-entries',
    { body: { action: 'block', username: marker, ttl: '10m', reason: 'test' } });
  const id = added.json().entry.id as string;
  const removed = await admin(gateway.adminPort, 'DELETE', `/v1/manual-entries/${id}`);

  t.equal(plain.status, 404);
  t.match(plain.json().detail, /no manual entry has the id "username:\[redacted\]": ids are ip:<address>, cidr:<network> or username:<pseudonym>/);
  t.equal(encoded.status, 404);
  t.equal(bare.status, 404);
  t.match(bare.json().detail, /no manual entry has the id "\[redacted\]"/);
  t.equal(mistyped.status, 404);
  t.match(address.json().detail, /no manual entry has the id "ip:192\.0\.2\.7"/, 'an address id is shown');
  t.equal(unauthenticated.status, 401);
  t.equal(removed.status, 200, 'an id that holds the pseudonym still removes the entry');

  const audit = gateway.logs.lines.filter((line) => line.message === 'admin action');
  const rejected = audit.filter((line) => line.event.outcome === 'failure');
  t.same(rejected.map((line) => line.url.path), [
    '/v1/manual-entries/username:[redacted]', '/v1/manual-entries/username:[redacted]',
    '/v1/manual-entries/[redacted]', '/v1/manual-entries/[redacted]', '/v1/manual-entries/ip:192.0.2.7',
  ], 'the path names no username');
  t.match(rejected[0].riskgate.admin.details.error, /no manual entry has the id "\[redacted\]"/, 'nor does the error');
  const failedLogin = gateway.logs.lines.find((line) => line.message === 'admin authentication failed');
  t.equal(failedLogin?.url.path, '/v1/manual-entries/username:[redacted]', 'nor a rejected token\'s line');
  t.equal(audit.at(-1)?.url.path, `/v1/manual-entries/${id}`, 'a pseudonym stays in the path');
  t.notOk(gateway.logs.text.includes(marker), 'no log line holds the username');
});

t.test('a username typed into another field is kept out of the audit line', async (t) => {
  const gateway = await adminGateway(t);
  const marker = `typed${randomBytes(4).toString('hex')}`;

  for (const field of ['ip', 'cidr']) {
    const reply = await admin(gateway.adminPort, 'POST', '/v1/manual-entries',
      { body: { action: 'block', [field]: `${marker}@example.com`, ttl: '10m', reason: 'test' } });
    t.equal(reply.status, 400, `${field}: refused`);
    t.match(reply.json().detail, marker, `${field}: the response names the value sent`);
  }

  const rejected = gateway.logs.lines.filter((line) => line.message === 'admin action' && line.event.outcome === 'failure');
  t.equal(rejected.length, 2);
  for (const line of rejected) t.match(line.riskgate.admin.details.error, /"\[redacted\]"/, 'the audit line says what was wrong');
  t.notOk(gateway.logs.text.includes(marker), 'no log line holds the value');
});

t.test('a list filter with an unknown value is refused, not answered with nothing', async (t) => {
  const gateway = await adminGateway(t);
  await admin(gateway.adminPort, 'POST', '/v1/manual-entries', { body: { action: 'block', cidr: '192.0.2.0/24', ttl: '10m', reason: 'test' } });

  for (const query of ['type=CIDR', 'action=Block', 'type=network', 'action=deny']) {
    const reply = await admin(gateway.adminPort, 'GET', `/v1/manual-entries?${query}`);
    t.equal(reply.status, 400, `${query}: 400`);
    t.match(reply.json().detail, /filter must be/);
  }
  const listed = await admin(gateway.adminPort, 'GET', '/v1/manual-entries?type=cidr&action=block');
  t.equal(listed.json().entries.length, 1, 'a valid filter still lists the entry');
});

import t from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { PROJECT_ROOT, TEST_SECRET, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { ADMIN_TOKEN, admin } from './client.js';

// A page on a name its owner points at 127.0.0.1 after loading (DNS rebinding) reaches the
// admin listener from the operator's browser, with that name in Host.
t.test('the admin listener serves only address literals, localhost and listed names', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { admin: { token: ADMIN_TOKEN, hosts: ['riskgate-admin.internal', '.svc.cluster.local'] } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const port = gateway.adminPort;
  const probe = (host: string, path = '/metrics') => send(port, { path, headers: { host } });

  for (const host of [`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`, 'LOCALHOST.', `app.localhost:${port}`,
    `10.0.0.8:${port}`, `riskgate-admin.internal:${port}`, 'Riskgate-Admin.Internal', `riskgate.default.svc.cluster.local:${port}`]) {
    t.equal((await probe(host)).status, 200, `Host ${host} is served`);
  }

  for (const host of [`rebind.example:${port}`, `riskgate-admin.internal.example:${port}`, `evilsvc.cluster.local:${port}`,
    'svc.cluster.local', `localhost.example:${port}`, `[not-an-address]:${port}`, `127.0.0.1:${port}@evil.example`]) {
    for (const path of ['/metrics', '/readyz', '/healthz']) {
      const reply = await probe(host, path);
      t.equal(reply.status, 421, `Host ${host} gets 421 at ${path}`);
      t.match(reply.json(), { title: 'host not served', detail: /admin\.hosts/ });
      t.notMatch(reply.body, /riskgate_|upstream/, `nothing of ${path} is sent for Host ${host}`);
    }
  }

  const api = await send(port, {
    path: '/v1/manual-entries',
    headers: { host: `rebind.example:${port}`, authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  t.equal(api.status, 421, 'the admin API refuses the name even with the token');
  t.equal((await admin(port, 'GET', '/v1/manual-entries')).status, 200, 'the API still answers by address');
});

t.test('admin.hosts is read from the file and RISKGATE_ADMIN_HOSTS, and checked', async (t) => {
  const load = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    loadConfigObject({ upstream: 'http://127.0.0.1:3000', ...raw }, PROJECT_ROOT, { env, secret: TEST_SECRET });

  t.same(load({}).admin.hosts, [], 'no names by default');
  t.same(load({ admin: { hosts: ['Admin.Example.', '.svc'] } }).admin.hosts, ['admin.example', '.svc']);
  t.same(load({}, { RISKGATE_ADMIN_HOSTS: ' a.example , .b.example,' }).admin.hosts, ['a.example', '.b.example']);
  t.throws(() => load({ admin: { hosts: ['http://a.example'] } }), { message: /admin\.hosts/ });
  t.throws(() => load({ admin: { hosts: 'a.example' } }), { message: /admin\.hosts/ });
});

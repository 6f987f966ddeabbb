import t from 'tap';

import { ADMIN_TOKEN, admin } from '../admin/client.js';
import { FakeClock } from '../helpers/clock.js';
import { login, startTestGateway } from '../helpers/gateway.js';
import { signAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const TENANT_A = 'a.example.test';
const TENANT_B = 'b.example.test';

t.test('with username.scope host one name is an account per host', async (t) => {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream({ alice: 'wonderland' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    clock: clock.read,
    config: { trusted_proxies: ['127.0.0.1/32'], username: { scope: 'host', hosts: ['*.example.test'] }, admin: { token: ADMIN_TOKEN } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const attempt = (host: string, password: string, address: string, extra: Record<string, string> = {}) =>
    login(gateway.port, 'alice', password, { headers: { host, 'x-forwarded-for': address, ...extra } });

  // Guesses at alice of tenant A, from many addresses, put that account under challenge.
  for (let index = 1; index <= 6; index += 1) await attempt(TENANT_A, `guess-${index}`, `203.0.113.${index}`);
  const challenged = await attempt(`${TENANT_A.toUpperCase()}:443`, 'wonderland', '198.51.100.7');
  t.equal(challenged.status, 401, 'tenant A\'s alice is challenged, under any spelling of the host');
  t.equal((await attempt(TENANT_B, 'wonderland', '198.51.100.8')).status, 200, 'tenant B\'s alice is not');

  // The MFA service of tenant B vouches for its own alice, so that does not pass tenant A's challenge.
  const challengeId = challenged.json().challenge.id as string;
  for (const subject of [`${TENANT_B}/alice`, 'alice']) {
    const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject, challengeId, nowMs: clock.now });
    const reply = await attempt(TENANT_A, 'wonderland', '198.51.100.7', { 'riskgate-step-up': assertion });
    t.equal(reply.status, 401, `an assertion for ${subject} is rejected at tenant A`);
  }
  const assertion = await signAssertion(gateway.stepUpSigningKey!, { subject: `${TENANT_A}/Alice`, challengeId, nowMs: clock.now });
  t.equal((await attempt(TENANT_A, 'wonderland', '198.51.100.7', { 'riskgate-step-up': assertion })).status, 200,
    'an assertion for tenant A\'s alice passes');

  const decisions = await waitForDecisions(gateway.logs, 11);
  const rejected = decisions.filter((line) => line.riskgate.step_up?.ok === false);
  t.same(rejected.map((line) => line.riskgate.step_up.reason), ['subject', 'subject'], 'both were rejected for their subject');
  t.not(decisions[6].user.name, decisions[7].user.name, 'the two accounts have their own pseudonyms');

  // The admin API names an account with its host.
  const bare = await admin(gateway.adminPort, 'POST', '/v1/accounts/export', { body: { username: 'alice' } });
  t.equal(bare.status, 400, 'a name without a host is refused');
  t.match(bare.json().detail, /host\/username/, 'with the form to use');
  const exported = await admin(gateway.adminPort, 'POST', '/v1/accounts/export', { body: { username: `${TENANT_B}/alice` } });
  t.equal(exported.status, 200);
  t.equal(exported.json().account.pseudonym, decisions[7].user.name, 'tenant B\'s alice is found by host and name');
});

t.test('with username.scope host a login at an unlisted host is refused', async (t) => {
  const upstream = await new RecordingUpstream({ alice: 'wonderland' }).start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { username: { scope: 'host', hosts: ['*.example.test', 'example.org'] } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // Each made-up host would be a fresh account to riskgate, while an app that reads the
  // tenant from the first label (Rails' request.subdomains) finds tenant "shop" in all of them.
  for (const host of ['shop.anything.test', 'shop.x.example.test', 'example.test', 'evil-example.org']) {
    const reply = await login(gateway.port, 'alice', 'guess', { headers: { host } });
    t.equal(reply.status, 421, `${host}: 421`);
    t.match(reply.json().detail, /username\.hosts/, `${host}: the detail names the setting`);
  }
  t.equal(upstream.logins.length, 0, 'none reached the app');
  for (const host of ['shop.example.test', 'Example.org:8080']) {
    t.equal((await login(gateway.port, 'alice', 'wonderland', { headers: { host } })).status, 200, `${host} is served`);
  }
});

t.test('with username.scope host the tenant is read from the header the app reads', async (t) => {
  const upstream = await new RecordingUpstream({ alice: 'wonderland' }).start();
  const start = async (hostHeader?: string) => {
    const gateway = await startTestGateway({
      upstream: upstream.url,
      config: { trusted_proxies: ['127.0.0.1/32'], username: { scope: 'host', hosts: ['*.example.test'], ...(hostHeader ? { host_header: hostHeader } : {}) } },
    });
    t.teardown(() => gateway.close());
    return gateway;
  };
  t.teardown(() => upstream.stop());

  // A proxy that passes the client's X-Forwarded-Host on lets the client choose it, while an
  // app that reads Host checks the password of Host's tenant.
  const byHost = await start();
  const comma = await login(byHost.port, 'alice', 'guess', { headers: { host: 'a,b.example.test' } });
  t.equal(comma.status, 421, 'a host with a comma, which apps split as a list, names no tenant');
  await login(byHost.port, 'alice', 'guess', { headers: { host: 'a.example.test', 'x-forwarded-host': 'z.example.test' } });
  const [decision] = await waitForDecisions(byHost.logs, 1);
  t.equal(decision.user.name, byHost.context.keys.pseudonymize('a.example.test/alice'), 'the account is Host\'s tenant');
  t.equal(upstream.logins.at(-1)!.headers['x-forwarded-host'], 'a.example.test', 'and the app is told that host in X-Forwarded-Host too');

  const byForwardedHost = await start('x-forwarded-host');
  await login(byForwardedHost.port, 'alice', 'guess', { headers: { host: 'internal.example.test', 'x-forwarded-host': 'b.example.test' } });
  const [forwarded] = await waitForDecisions(byForwardedHost.logs, 1);
  t.equal(forwarded.user.name, byForwardedHost.context.keys.pseudonymize('b.example.test/alice'), 'with host_header x-forwarded-host, the proxy\'s host');
});

import t from 'tap';

import { BROWSER_HEADERS, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

/** Post a JSON login with a browser's same-origin headers for `host`. */
function postAt(port: number, host: string, username: string, headers: Record<string, string> = {}) {
  return send(port, {
    method: 'POST', path: '/login', body: JSON.stringify({ username, password: 'guess' }),
    headers: {
      ...BROWSER_HEADERS, host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json', ...headers,
    },
  });
}

t.test('hosts rejects rebound host logins', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { hosts: ['login.example.com', '*.shop.example.com', 'gateway.internal'], trusted_proxies: ['127.0.0.1/32'] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // A page at attacker.example rebinds its name to the gateway, so its visitors' browsers
  // send same-origin logins with that Host, from their own addresses.
  const statuses: number[] = [];
  for (let index = 0; index < 12; index += 1) {
    statuses.push((await postAt(gateway.port, 'attacker.example', `made-up-${index}`, { 'x-forwarded-for': '198.51.100.7' })).status);
  }
  // A proxy that keeps the page's Host may pass on an X-Forwarded-Host that its script set,
  // or append the Host it saw to it.
  const spoofed = await postAt(gateway.port, 'attacker.example', 'made-up-12',
    { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-host': 'login.example.com' });
  const appended = await postAt(gateway.port, 'gateway.internal', 'made-up-13',
    { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-host': 'login.example.com, attacker.example' });
  const owner = await postAt(gateway.port, 'login.example.com', 'alice', { 'x-forwarded-for': '198.51.100.7' });
  const tenant = await postAt(gateway.port, 'eu.shop.example.com:8080', 'bob', { 'x-forwarded-for': '198.51.100.8' });
  const forwarded = await postAt(gateway.port, 'gateway.internal', 'carol', { 'x-forwarded-for': '198.51.100.9', 'x-forwarded-host': 'login.example.com' });
  const decisions = await waitForDecisions(gateway.logs, 3);

  t.same(statuses, Array(12).fill(421), 'each rebound login gets 421');
  t.equal(spoofed.status, 421, 'a listed X-Forwarded-Host does not serve an unlisted Host');
  t.match(spoofed.json().detail, /"attacker\.example" in Host/, 'the detail names the host and its header');
  t.equal(appended.status, 421, 'every X-Forwarded-Host entry must be listed');
  t.match(appended.json().detail, /"attacker\.example" in X-Forwarded-Host/);
  t.equal(owner.status, 401, 'the owner\'s login at the site\'s host is judged and forwarded');
  t.equal(tenant.status, 401, 'a host under a listed wildcard is served');
  t.equal(forwarded.status, 401, 'a listed Host with a trusted proxy\'s listed X-Forwarded-Host is served');
  t.equal(decisions[0].riskgate.decision, 'allow', 'the rebound logins counted nothing against the address');
  t.equal(decisions[0].riskgate.counters.usernames_per_ip, 0);
  t.equal(upstream.logins.length, 3, 'only the three logins at served hosts reached the app');
});

t.test('empty hosts serves any host', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const reply = await postAt(gateway.port, 'anything.example', 'alice');

  t.equal(reply.status, 401);
  t.equal(upstream.logins.length, 1);
});

import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import t, { type Test } from 'tap';

import { login, send, startTestGateway, BROWSER_HEADERS, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { counterKeys, listKeys } from './redis-keys.js';

const TRUSTED = { trusted_proxies: ['127.0.0.1/32'] };

async function setUp(t: Test, options: { store?: 'memory' | 'redis' } = {}) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: TRUSTED, store: options.store });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    if (options.store === 'redis') await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
  });
  return { upstream, gateway };
}

function decisionFor(gateway: TestGateway, requestId: string | string[] | undefined) {
  return gateway.logs.decisions.find((line) => line.http.request.id === requestId);
}

t.test('forwarded-for from an untrusted peer is ignored', async (t) => {
  const { upstream, gateway } = await setUp(t);

  for (let index = 1; index <= 20; index += 1) {
    await login(gateway.port, 'mallory-target', 'wrong', {
      source: '127.0.0.5',
      headers: { 'x-forwarded-for': `198.51.100.${index}` },
    });
  }
  const decisions = await waitForDecisions(gateway.logs, 20);

  t.equal(decisions.filter((line) => line.source.ip === '127.0.0.5').length, 20, 'every decision names the peer');
  t.equal(decisions[19].riskgate.counters.attempts_per_ip, 19, 'all 20 attempts count against one address');
  t.equal(decisions[19].riskgate.signals.ip.key, '127.0.0.5');
  t.ok(upstream.logins.length <= 5, 'the account is challenged after five failures, not 20 fresh addresses');
  for (const received of upstream.logins) {
    t.equal(received.headers['x-forwarded-for'], '127.0.0.5', 'the app reads the address riskgate judged');
    t.equal(received.headers['x-real-ip'], '127.0.0.5');
  }
});

t.test('trusted proxy chain resolves to the right-most client', async (t) => {
  const { upstream, gateway } = await setUp(t);

  await login(gateway.port, 'alice', 'wonderland', {
    headers: { 'x-forwarded-for': '203.0.113.99, 198.51.100.7' },
  });
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.source.ip, '198.51.100.7');
  t.equal(upstream.logins[0].headers['x-forwarded-for'], '198.51.100.7');
  t.equal(upstream.logins[0].headers['x-real-ip'], '198.51.100.7');
});

t.test('repeated forwarded-for headers are read as one list', async (t) => {
  const { gateway } = await setUp(t);

  await login(gateway.port, 'alice', 'wonderland', {
    headers: { 'x-forwarded-for': ['203.0.113.5', '198.51.100.9'] },
  });
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.source.ip, '198.51.100.9');
});

t.test('invalid forwarded-for entries never become the client', async (t) => {
  const { gateway } = await setUp(t);
  const entries = ['unknown', '1.2.3.4.5', '', ' ', '127.1', '0x7f.0.0.1', '010.1.2.3', 'fe80::1%eth0', '198.51.100.7, unknown', '_hidden', 'for=1.2.3.4'];

  for (const entry of entries) {
    await login(gateway.port, 'alice', 'wonderland', { headers: { 'x-forwarded-for': entry } });
  }
  const decisions = await waitForDecisions(gateway.logs, entries.length);

  decisions.forEach((line, index) => {
    t.equal(line.source.ip, '127.0.0.1', `"${entries[index]}" leaves the proxy itself as the client`);
  });
});

t.test('forwarded-for entries with ports and brackets are read', async (t) => {
  const { gateway } = await setUp(t);
  const cases: [string, string][] = [
    ['198.51.100.7:4431', '198.51.100.7'],
    ['[2001:db8::7]:443', '2001:db8::7'],
    ['::ffff:198.51.100.8', '198.51.100.8'],
    // NAT64 (SIIT-DC), 6to4 and Teredo addresses carry a whole IPv4 client.
    ['64:ff9b::198.51.100.9', '198.51.100.9'],
    ['64:ff9b::c633:640a', '198.51.100.10'],
    ['2002:c633:640b::1', '198.51.100.11'],
    // Teredo stores the client's address with every bit flipped.
    ['2001:0:4136:e378:8000:63bf:39cc:9bf3', '198.51.100.12'],
  ];

  for (const [entry] of cases) {
    await login(gateway.port, 'alice', 'wonderland', { headers: { 'x-forwarded-for': entry } });
  }
  const decisions = await waitForDecisions(gateway.logs, cases.length);

  cases.forEach(([entry, expected], index) => t.equal(decisions[index].source.ip, expected, entry));
});

t.test('local-use NAT64 clients count one address each', async (t) => {
  const { gateway } = await setUp(t);
  // Under RFC 6052's /64 layout the IPv4 client sits in bits 72 to 103, so the last 32 bits
  // of these two (203.0.113.1 and 198.51.100.1) are both 1.0.0.0.
  const attacker = '64:ff9b:1:1:cb:71:100:0';
  const other = '64:ff9b:1:1:c6:3364:100:0';

  for (let index = 0; index < 10; index += 1) {
    await login(gateway.port, `user${index}`, 'wrong', { headers: { 'x-forwarded-for': attacker } });
  }
  const reply = await login(gateway.port, 'carol', 'wrong', { headers: { 'x-forwarded-for': other } });
  const decisions = await waitForDecisions(gateway.logs, 11);

  t.equal(decisions[9].riskgate.counters.usernames_per_ip, 9, 'the first address counts its own accounts');
  t.equal(decisions[9].riskgate.signals.ip.key, `${attacker}/128`, 'keyed by the whole address');
  t.equal(reply.status, 401, 'the other client is judged on its own');
  t.equal(decisions[10].source.ip, other);
  t.equal(decisions[10].riskgate.counters.usernames_per_ip, 0, 'no accounts of the first client');
  t.equal(decisions[10].riskgate.counters.usernames_per_prefix, 0, 'nor of its prefix');
  t.equal(decisions[10].riskgate.signals.geo.known, false, 'its location is unknown');
});

t.test('clients of a site NAT64 prefix are read as their IPv4 address', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { ...TRUSTED, nat64_prefixes: ['2001:db8:46::/96', '64:ff9b:1:1::/64'] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // 198.51.100.66 tries ten accounts through the /96 prefix; 203.0.113.20 then signs in.
  const attacker = '2001:db8:46::c633:6442';
  for (let index = 0; index < 10; index += 1) {
    await login(gateway.port, `user${index}`, 'wrong', { headers: { 'x-forwarded-for': attacker } });
  }
  const reply = await login(gateway.port, 'alice', 'wonderland', { headers: { 'x-forwarded-for': '2001:db8:46::cb00:7114' } });
  // Under the /64 layout the IPv4 address sits in bits 72 to 103: 198.51.100.66 again.
  await login(gateway.port, 'user10', 'wrong', { headers: { 'x-forwarded-for': '64:ff9b:1:1:c6:3364:4200:0' } });
  const decisions = await waitForDecisions(gateway.logs, 12);

  t.equal(decisions[9].source.ip, '198.51.100.66', 'the attacker is its IPv4 address');
  t.equal(decisions[9].riskgate.signals.ip.key, '198.51.100.66', 'and keyed by it');
  t.equal(reply.status, 200, 'another IPv4 client behind the same prefix is not blocked with it');
  t.equal(decisions[10].source.ip, '203.0.113.20');
  t.equal(decisions[10].riskgate.counters.usernames_per_ip, 0, 'and counts none of its accounts');
  t.equal(decisions[11].source.ip, '198.51.100.66', 'a /64 prefix is read at its own offset');
  t.equal(decisions[11].riskgate.counters.usernames_per_ip, 10, 'and shares the counter of the same IPv4 client');
});

/** Send a login and a page request from `source` with the `spoofed` headers, and check both reached the app. */
async function passSpoofed(t: Test, spoofed: Record<string, string>, source: string) {
  const { upstream, gateway } = await setUp(t);
  const reply = await login(gateway.port, 'alice', 'wonderland', { source, headers: spoofed });
  await send(gateway.port, { path: '/account', source, headers: { ...BROWSER_HEADERS, ...spoofed } });

  t.equal(reply.status, 200);
  t.equal(upstream.requests.length, 2);
  return { upstream, gateway };
}

t.test('SSO agent user headers removed', async (t) => {
  // IBM WebSEAL junctions and SiteMinder agents name the signed-in user in these.
  const spoofed = {
    'iv-user': 'victim', 'iv-user-l': 'cn=victim,o=example', 'iv-creds': 'Version=1, BAKs3DCCBnMMADCCBm0w', 'iv-groups': 'admins',
    smuser: 'victim', smuserdn: 'cn=victim,o=example', smuniversalid: 'victim', smsession: 'AAAAAA',
    'sm-userdn': 'cn=victim,o=example', 'sm-universalid': 'victim',
    'x-authuser': 'victim', 'x-loginid': 'victim', samaccountname: 'victim', userprincipalname: 'victim@example.com',
  };
  const { upstream } = await passSpoofed(t, spoofed, '127.0.0.6');
  for (const received of upstream.requests) {
    for (const name of Object.keys(spoofed)) t.equal(received.headers[name], undefined, `${received.url}: ${name} is removed`);
  }
});

t.test('other client address and URL override headers never reach the app', async (t) => {
  const spoofed = {
    'x-real-ip': '203.0.113.66',
    'true-client-ip': '203.0.113.66',
    'cf-connecting-ip': '203.0.113.66',
    'x-client-ip': '203.0.113.66',
    'x-cluster-client-ip': '203.0.113.66',
    'fastly-client-ip': '203.0.113.66',
    'x-originating-ip': '203.0.113.66',
    'x-original-forwarded-for': '203.0.113.66',
    'x-envoy-external-address': '203.0.113.66',
    'x-proxyuser-ip': '203.0.113.66',
    'x-appengine-user-ip': '203.0.113.66',
    // Java, PHP and .NET helpers try long lists of names like these.
    'proxy-client-ip': '203.0.113.66',
    'wl-proxy-client-ip': '203.0.113.66',
    'x-remote-ip': '203.0.113.66',
    'x-remote-addr': '203.0.113.66',
    'remote-addr': '203.0.113.66',
    'x-client-ip-address': '203.0.113.66',
    'x-azure-clientip': '203.0.113.66',
    'x-azure-socketip': '203.0.113.66',
    'cf-pseudo-ipv4': '203.0.113.66',
    'cloudfront-viewer-address': '203.0.113.66:4711',
    'true-client-address': '203.0.113.66',
    'remote-host': '203.0.113.66',
    'x-client-host': '203.0.113.66',
    'x-real-ip6': '2001:db8::66',
    xclientip: '203.0.113.66',
    'x-cluster-clientip': '203.0.113.66',
    'x-coming-from': '203.0.113.66',
    'x-forwardedfor': '203.0.113.66',

    // An app that trusts an authenticating proxy's user header would sign in this user.
    'remote-user': 'victim',
    'x-auth-user': 'victim',
    'x-auth-request-user': 'victim',
    'remote-email': 'victim@example.com',
    'remote-groups': 'admins',
    'x-ms-client-principal-name': 'victim@example.com',
    'x-goog-authenticated-user-email': 'accounts.google.com:victim@example.com',
    'cf-access-authenticated-user-email': 'victim@example.com',
    'x-amzn-oidc-identity': 'victim',
    'x-ssl-client-s-dn': 'CN=victim',
    'x-client-verify': 'SUCCESS',
    'x-email': 'victim@example.com',
    'x-authenticated-userid': 'victim',
    'x-consumer-username': 'victim',
    'x-pomerium-claim-email': 'victim@example.com',
    'x-pomerium-jwt-assertion': 'eyJ.victim',
    'x-vouch-user': 'victim',
    'x-endpoint-api-userinfo': 'eyJ.victim',
    'x-apigateway-api-userinfo': 'eyJ.victim',
    'x-credential-identifier': 'victim',
    'x-ms-token-aad-id-token': 'eyJ.victim',
    'x-ssl-cert': 'CN=victim',
    'proxy-user': 'victim',
    'x-remoteuser': 'victim',
    'x-user-id': 'victim',
    'x-forwarded-user': 'victim',
    'x-authentik-name': 'victim',
    'x-authentik-uid': 'victim',
    'tailscale-user-profile-pic': 'https://example.com/victim.png',
    'x-auth-username': 'victim',
    'x-auth-subject': 'victim',
    'x-amzn-ava-user-context': 'eyJ.victim',
    'gap-auth': 'victim@example.com',
    'client-cert': ':MIIB:',
    'client-cert-chain': ':MIIB:',
    'x-tls-client-cert': 'CN=victim',
    'x-ssl-subject': 'CN=victim',
    eppn: 'victim@example.com',
    'shib-identity-provider': 'https://idp.example.com',
    'x-client-s-dn': 'CN=victim',
    'x-client-cn': 'victim',
    'x-client-verified': 'SUCCESS',
    'x-spiffe-id': 'spiffe://example.com/victim',
    'x-auth-login': 'victim',
    'x-is-admin': 'true',
    'x-role': 'admin',
    'x-forwarded-port': '8443',
    'x-forwarded-prefix': '/x',
    forwarded: 'for=203.0.113.66',
    // Older Symfony, Zend and Yii releases take the request path from these.
    'x-original-url': '/login',
    'x-rewrite-url': '/login',
    // gunicorn takes the script name from this header and routes by the rest of the path.
    'script-name': '/x',
    // WSGI prefix middleware moves this prefix out of the path, and nginx sets the other.
    'x-script-name': '/x',
    'x-original-uri': '/login',
    'x-original-path': '/login',
    'x-envoy-original-path': '/login',
    'x-request-uri': '/login',
    'x-original-host': 'evil.example',
    'x-host': 'evil.example',
    'x-host-override': 'evil.example',
    'x-http-host-override': 'evil.example',
  };

  const { upstream, gateway } = await passSpoofed(t, spoofed, '127.0.0.6');
  for (const received of upstream.requests) {
    for (const name of Object.keys(spoofed)) {
      if (name === 'x-real-ip') t.equal(received.headers[name], '127.0.0.6', `${received.url}: ${name} is rewritten`);
      else t.equal(received.headers[name], undefined, `${received.url}: ${name} is removed`);
    }
  }
  const decision = decisionFor(gateway, upstream.logins[0].headers['x-request-id']);
  t.equal(decision?.source.ip, '127.0.0.6');
});

t.test("Next.js's internal routing headers never reach the app", async (t) => {
  // A separate request, since the test above is near the limit of 100 header fields.
  const spoofed = {
    'x-invoke-path': '/login',
    'x-invoke-query': '%7B%7D',
    'x-matched-path': '/login',
    'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
  };

  const { upstream } = await passSpoofed(t, spoofed, '127.0.0.7');
  for (const received of upstream.requests) {
    for (const name of Object.keys(spoofed)) t.equal(received.headers[name], undefined, `${received.url}: ${name} is removed`);
  }
});

t.test('identity headers named by one word never reach the app', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const spoofed = {
    user: 'victim', email: 'victim@example.com', login: 'victim', uid: 'victim', sub: 'victim', admin: 'true', roles: 'admin',
    // Joined words, and the headers of a user that another acts as.
    'x-useremail': 'victim@example.com', 'x-userlogin': 'victim', 'impersonate-group': 'system:masters',
    'impersonate-extra-scopes': 'admin', 'x-auth-group': 'admins',
    // Carrier subscriber ids, a SAML name, delegation and a passed step-up.
    'x-wap-msisdn': '447700900123', msisdn: '447700900123', 'x-up-calling-line-id': '447700900123', 'x-imsi': '234150999999999',
    'x-uidh': 'abc', 'x-acr': 'abc', 'x-saml-nameid': 'victim@example.com', 'x-nameid': 'victim@example.com',
    'x-authenticated': 'true', 'x-act-as': 'admin', 'x-on-behalf-of': 'admin', 'x-sudo': 'admin', 'x-superuser': '1',
    'x-mfa': 'passed', 'x-2fa': 'ok', 'x-step-up': 'ok',
  };

  const reply = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.6', headers: spoofed });
  await send(gateway.port, { path: '/account', source: '127.0.0.6', headers: { ...BROWSER_HEADERS, ...spoofed } });

  t.equal(reply.status, 200);
  t.equal(upstream.requests.length, 2);
  for (const received of upstream.requests) {
    for (const name of Object.keys(spoofed)) t.equal(received.headers[name], undefined, `${received.url}: ${name} is removed`);
  }
});

t.test('a trusted proxy that sends no X-Forwarded-For is warned about once', async (t) => {
  const { gateway } = await setUp(t);
  const warnings = () => gateway.logs.lines.filter((line) => /a trusted proxy sent a login without X-Forwarded-For/.test(line.message));

  // nginx's common `proxy_set_header X-Real-IP $remote_addr` sends no X-Forwarded-For.
  await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.1', headers: { 'x-real-ip': '203.0.113.51' } });
  await login(gateway.port, 'bob', 'wonderland', { source: '127.0.0.1', headers: { forwarded: 'for=203.0.113.52' } });
  await waitFor(() => gateway.logs.decisions.length === 2, 'both decision lines');

  t.equal(warnings().length, 1, 'one warning for the proxy, however many logins');
  t.equal(warnings()[0].log.level, 'warn');
  t.same(warnings()[0].riskgate.proxy_headers, ['x-real-ip'], 'it names the header the proxy sent instead');
  t.equal(gateway.logs.decisions[0].source.ip, '127.0.0.1', 'the login is judged as the proxy, as the warning says');

  await login(gateway.port, 'carol', 'wonderland', { source: '127.0.0.6' });
  await login(gateway.port, 'dave', 'wonderland', { source: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.53' } });
  await waitFor(() => gateway.logs.decisions.length === 4, 'the later decision lines');
  t.equal(warnings().length, 1, 'no warning for an untrusted peer or a proxy that sends the header');
});

t.test('client locations from an untrusted peer never reach the app', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Locations that a CDN derives from the address, which an app may read as the client's.
  const spoofed = {
    srcip: '203.0.113.66',
    'cf-ipcountry': 'NZ',
    'cloudfront-viewer-country': 'NZ',
    'x-akamai-edgescape': 'country_code=NZ',
    'x-geo-country': 'NZ',
    'x-country-code': 'NZ',
    'x-appengine-city': 'auckland',
    'cf-ipcity': 'Auckland',
    'cf-iplatitude': '-36.8',
    'cf-ipcontinent': 'OC',
    'cf-region-code': 'AUK',
    'cf-postal-code': '1010',
    'cf-timezone': 'Pacific/Auckland',
    'x-appengine-citylatlong': '-36.8,174.7',
    'x-appengine-region': 'auk',
    'cloudfront-viewer-postal-code': '1010',
    'cloudfront-viewer-time-zone': 'Pacific/Auckland',
  };

  const reply = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.6', headers: spoofed });

  t.equal(reply.status, 200);
  for (const name of Object.keys(spoofed)) t.equal(upstream.logins[0].headers[name], undefined, `${name} is removed`);
});

t.test('an untrusted peer keeps its ordinary headers', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const ordinary = {
    'sec-fetch-user': '?1',
    'x-csrf-token': 'csrf-value',
    'x-auth-token': 'api-value',
    'x-access-token': 'api-value',
    'x-user-timezone': 'Europe/Berlin',
    'x-client-data': 'CIa2yQE=',
    'x-mfa-code': '123456',
    'x-account-id': 'tenant-7',
  };

  const reply = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.6', headers: ordinary });

  t.equal(reply.status, 200);
  t.match(upstream.logins[0].headers['user-agent'], /Mozilla/);
  for (const [name, value] of Object.entries(ordinary)) t.equal(upstream.logins[0].headers[name], value, `${name} is kept`);
});

t.test('a trusted proxy keeps its signed-in user headers', async (t) => {
  const { upstream, gateway } = await setUp(t);

  const reply = await login(gateway.port, 'alice', 'wonderland', {
    headers: { 'remote-user': 'alice', 'x-auth-request-user': 'alice' },
  });

  t.equal(reply.status, 200);
  t.equal(upstream.logins[0].headers['remote-user'], 'alice');
  t.equal(upstream.logins[0].headers['x-auth-request-user'], 'alice');
});

t.test('a trusted proxy keeps its client location headers', async (t) => {
  const { upstream, gateway } = await setUp(t);

  const reply = await login(gateway.port, 'alice', 'wonderland', { headers: { 'cf-ipcountry': 'NZ', 'cloudfront-viewer-country': 'NZ' } });

  t.equal(reply.status, 200);
  t.equal(upstream.logins[0].headers['cf-ipcountry'], 'NZ');
  t.equal(upstream.logins[0].headers['cloudfront-viewer-country'], 'NZ');
});

t.test('a trusted proxy list gives its own last value', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // A load balancer that appends to what the client sent puts its own value last.
  const headers = {
    'x-forwarded-for': '198.51.100.7',
    'x-forwarded-host': 'evil.example, app.example',
    'x-forwarded-proto': 'http, https',
    'x-forwarded-port': '80, 443',
  };

  await login(gateway.port, 'alice', 'wonderland', { headers });

  const [received] = upstream.logins;
  t.equal(received.headers['x-forwarded-host'], 'app.example');
  t.equal(received.headers['x-forwarded-proto'], 'https');
  t.equal(received.headers['x-forwarded-port'], '443');
  t.equal(received.headers['x-forwarded-for'], '198.51.100.7', 'the client alone, so an app that trusts one hop reads it');
});

t.test('a forwarded prefix reaches the app only with forwarded_prefix pass', async (t) => {
  // Flask's ProxyFix, Spring and Symfony put X-Forwarded-Prefix in front of their redirects.
  const app = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      const prefix = String(request.headers['x-forwarded-prefix'] ?? '');
      const ok = body.includes('wonderland');
      response.writeHead(302, { location: `${prefix}${ok ? '/home' : '/login?error=1'}`, 'content-length': 0 });
      response.end();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const upstream = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const route = { path: '/login', success_location: ['/home'], failure_location: ['/login'] };
  const dropping = await startTestGateway({ upstream, config: { ...TRUSTED, login_routes: [route] } });
  const passing = await startTestGateway({ upstream, config: { ...TRUSTED, forwarded_prefix: 'pass', login_routes: [route] } });
  t.teardown(async () => {
    await dropping.close();
    await passing.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });
  // A load balancer that passes the client's header on lets it turn a failure's Location
  // into /home?/login?error=1, whose path is the success page.
  const headers = { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-prefix': '/home?' };

  for (let index = 0; index < 3; index += 1) await login(dropping.port, 'alice', `guess-${index}`, { headers });
  const decisions = await waitForDecisions(dropping.logs, 3);
  t.same(decisions.map((line) => line.event.outcome), ['failure', 'failure', 'failure'], 'each wrong password is a failure');
  t.equal(decisions[2].riskgate.counters.failures_per_account, 2, 'and counts for the account');

  const passed = await login(passing.port, 'alice', 'wonderland', { headers: { ...headers, 'x-forwarded-prefix': '/shop' } });
  t.equal(passed.headers.location, '/shop/home', "with pass, the trusted proxy's prefix reaches the app");
});

t.test('underscore spellings of gateway headers never reach the app', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // WSGI, Rack and PHP read X_Forwarded_For as the same variable as X-Forwarded-For.
  const spoofed = {
    x_forwarded_for: '203.0.113.66',
    x_real_ip: '203.0.113.66',
    true_client_ip: '203.0.113.66',
    x_forwarded_host: 'evil.test',
    riskgate_risk: 'forged',
    riskgate_step_up: 'forged',
    x_request_id: 'forged',
    // CGI-style readers read this as the Content-Type.
    content_type: 'application/x-www-form-urlencoded',
    x_custom_header: 'any',
  };

  const reply = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.7', headers: spoofed });
  await send(gateway.port, { path: '/account', source: '127.0.0.7', headers: { ...BROWSER_HEADERS, ...spoofed } });

  t.equal(reply.status, 200);
  t.equal(upstream.requests.length, 2);
  for (const received of upstream.requests) {
    const names = received.rawHeaders.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
    for (const name of Object.keys(spoofed)) {
      t.notOk(names.includes(name), `${received.url}: ${name} is removed`);
    }
    t.equal(received.headers['x-forwarded-for'], '127.0.0.7', `${received.url}: the app reads the address riskgate judged`);
  }
});

t.test('IPv6 rotation inside one /64 shares one counter', async (t) => {
  const { gateway } = await setUp(t, { store: 'redis' });
  const forms = (index: number) => {
    const hex = index.toString(16);
    switch (index % 4) {
      case 0: return `2001:db8:1:2::${hex}`;
      case 1: return `2001:DB8:1:2:0:0:0:${hex.toUpperCase()}`;
      case 2: return `2001:0db8:0001:0002:0000:0000:0000:${hex.padStart(4, '0')}`;
      default: return `[2001:db8:1:2:0::${hex}]:443`;
    }
  };

  for (let index = 1; index <= 0x14; index += 1) {
    await login(gateway.port, 'ipv6-target', 'wrong', { headers: { 'x-forwarded-for': forms(index) } });
  }
  await login(gateway.port, 'ipv6-other', 'wrong', { headers: { 'x-forwarded-for': '2001:db8:1:3::1' } });
  const decisions = await waitForDecisions(gateway.logs, 21);

  const keys = decisions.slice(0, 20).map((line) => line.riskgate.signals.ip.key);
  t.same([...new Set(keys)], ['2001:db8:1:2::/64'], 'every form maps to one /64');
  t.equal(decisions[19].riskgate.counters.attempts_per_ip, 19, 'the 20th attempt sees the 19 before it');
  t.equal(decisions[19].source.ip, '2001:db8:1:2::14', 'the log names the canonical address');
  t.equal(decisions[20].riskgate.signals.ip.key, '2001:db8:1:3::/64');
  t.equal(decisions[20].riskgate.counters.attempts_per_ip, 0, 'the next /64 is its own bucket');

  const stored = await listKeys(gateway.config.store.keyPrefix);
  for (const counter of ['attempts_per_ip', 'usernames_per_ip', 'failures_per_ip']) {
    t.equal(counterKeys(stored, counter).length, 2, `${counter} has one key per /64`);
  }
  t.equal(counterKeys(stored, 'usernames_per_prefix').length, 1, 'both /64s share one /48 key');
});

t.test('a login reset right after it is sent keeps its peer address', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const body = JSON.stringify({ username: 'reset-user', password: 'wrong' });
  const request = [
    'POST /login HTTP/1.1', 'Host: gateway.test', ...Object.entries(BROWSER_HEADERS).map(([name, value]) => `${name}: ${value}`),
    'Content-Type: application/json', `Content-Length: ${body.length}`, '', body,
  ].join('\r\n');

  // The reset arrives with the request, so the peer address is gone from the kernel by
  // the time the request is parsed.
  for (let index = 0; index < 20; index += 1) {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port: gateway.port, host: '127.0.0.1', localAddress: '127.0.0.9' }, () => {
        socket.write(request, () => socket.resetAndDestroy());
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
  }
  await sleep(500);

  const sources = new Set(gateway.logs.decisions.map((line) => line.source.ip));
  t.same([...sources], ['127.0.0.9'], 'every login is judged by its peer address, never 0.0.0.0');
  t.ok(gateway.logs.decisions.at(-1)?.riskgate.counters.attempts_per_ip >= 5, 'the resets count against the peer');
  for (const received of upstream.logins) {
    t.ok(decisionFor(gateway, received.headers['x-request-id']), 'every forwarded login has a decision line');
    t.equal(received.headers['x-forwarded-for'], '127.0.0.9', 'the app reads the address riskgate judged');
  }
});

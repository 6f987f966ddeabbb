import { createHash } from 'node:crypto';
import net from 'node:net';

import t, { type Test } from 'tap';

import { BROWSER_HEADERS, login, send, startTestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

type Tap = Test;

async function setup(t: Tap, options: Partial<TestGatewayOptions> = {}) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, ...options });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function setCookies(headers: Record<string, unknown>): string[] {
  const value = headers['set-cookie'];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}

t.test('good login is forwarded byte-exact', async (t) => {
  const { upstream, gateway } = await setup(t);
  // Odd spacing, key order and non-ASCII text: any re-serialisation would change the hash.
  const body = '{ "password":"wonderland",\n  "username" : "alice", "note":"caf\u00e9 \u2713 \\u00e9" }';

  const reply = await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    body,
  });

  t.equal(reply.status, 200, 'the app accepted the login');
  t.same(reply.json(), { ok: true }, "the app's body comes back");
  t.equal(upstream.logins.length, 1, 'forwarded once');
  const received = upstream.logins[0];
  t.equal(received.sha256, sha256(body), "the upstream's SHA-256 of the body is the client's");
  t.equal(received.headers['content-length'], String(Buffer.byteLength(body)), 'riskgate set Content-Length');
  t.equal(received.headers['transfer-encoding'], undefined, "the client's chunked framing is not passed on");
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.riskgate.decision, 'allow');
  t.equal(decision.event.outcome, 'success');
  t.equal(decision.http.response.status_code, 200);
});

t.test('device cookie is set on success', async (t) => {
  const { gateway } = await setup(t);

  const reply = await login(gateway.port, 'alice', 'wonderland');

  const cookies = setCookies(reply.headers);
  t.equal(cookies.length, 1, 'one Set-Cookie');
  const cookie = cookies[0];
  t.match(cookie, /^__Host-rg_device=[\w-]+\.[\w-]+\.[\w-]+;/, 'named __Host-rg_device, a signed token');
  t.match(cookie, /; HttpOnly(;|$)/, 'HttpOnly');
  t.match(cookie, /; SameSite=Lax(;|$)/, 'SameSite');
  t.match(cookie, /; Secure(;|$)/, 'Secure by default');
  t.match(cookie, /; Path=\/(;|$)/, 'for the whole site');
});

t.test('an invalid device cookie does not hide a valid one', async (t) => {
  const { gateway } = await setup(t);
  const first = await login(gateway.port, 'alice', 'wonderland');
  const valid = setCookies(first.headers)[0].split(';')[0];

  // A sibling subdomain can set a cookie of the same name that the browser sends first.
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: `__Host-rg_device=garbage; ${valid}` } });
  const decisions = await waitForDecisions(gateway.logs, 2);

  t.equal(decisions[1].riskgate.signals.account.known_device, true, 'the valid cookie names the known device');
});

t.test("another account's device cookie is no known device", async (t) => {
  // The RecordingUpstream takes `wonderland` for every user, so bob plays the attacker's own account.
  const { gateway } = await setup(t);
  const own = setCookies((await login(gateway.port, 'alice', 'wonderland')).headers)[0].split(';')[0];
  const planted = setCookies((await login(gateway.port, 'bob', 'wonderland')).headers)[0].split(';')[0];

  // A planted cookie that the browser sends first does not hide the owner's.
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: `${planted}; ${own}` } });
  // The attacker's cookie, planted in alice's browser, rides along on her next success.
  const fixed = await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: planted } });
  const reissued = setCookies(fixed.headers)[0].split(';')[0];
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: planted } });
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: reissued } });
  await login(gateway.port, 'bob', 'wonderland', { headers: { cookie: planted } });

  const decisions = await waitForDecisions(gateway.logs, 7);
  t.equal(decisions[2].riskgate.signals.account.known_device, true, "alice's own cookie is read after the planted one");
  t.equal(decisions[3].riskgate.signals.account.known_device, false, 'the planted cookie is a new device for alice');
  t.equal(decisions[4].riskgate.signals.account.known_device, false, "the attacker's copy stays a new device after her success");
  t.equal(decisions[5].riskgate.signals.account.known_device, true, 'the cookie reissued to alice is known to her');
  t.equal(decisions[6].riskgate.signals.account.known_device, true, 'the cookie stays known to bob');
});

t.test('look-alike device cookie stays unknown', async (t) => {
  // Counters read cárol as carol, but an app that keeps accents apart has both accounts.
  const { gateway } = await setup(t);
  const cookie = setCookies((await login(gateway.port, 'c\u00e1rol', 'wonderland')).headers)[0].split(';')[0];

  await login(gateway.port, 'carol', 'wonderland', { headers: { cookie } });
  await login(gateway.port, 'C\u00c1ROL', 'wonderland', { headers: { cookie } });
  const decisions = await waitForDecisions(gateway.logs, 3);

  t.equal(decisions[1].riskgate.signals.account.known_device, false, 'the cookie of cárol is a new device for carol');
  t.equal(decisions[2].riskgate.signals.account.known_device, true, 'and stays known to cárol in any case');
});

t.test('device cookies are unlinkable', async (t) => {
  const { gateway } = await setup(t);
  const first = setCookies((await login(gateway.port, 'alice', 'wonderland')).headers)[0].split(';')[0];
  const second = setCookies((await login(gateway.port, 'alice', 'wonderland')).headers)[0].split(';')[0];
  const accounts = (cookie: string) => JSON.parse(Buffer.from(cookie.split('.')[1], 'base64url').toString()).acc as string[];

  t.equal(accounts(first).length, 1);
  t.not(accounts(first)[0], accounts(second)[0], 'the two devices name alice by different digests');
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: first } });
  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: second } });
  const decisions = await waitForDecisions(gateway.logs, 4);
  t.equal(decisions[2].riskgate.signals.account.known_device, true, 'each device stays known to alice');
  t.equal(decisions[3].riskgate.signals.account.known_device, true);
});

t.test('the device cookie is not forwarded to the app', async (t) => {
  const { upstream, gateway } = await setup(t);
  const own = setCookies((await login(gateway.port, 'alice', 'wonderland')).headers)[0].split(';')[0];

  await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: `session=s1; ${own}; theme=dark` } });
  await send(gateway.port, { path: '/account', headers: { ...BROWSER_HEADERS, cookie: `${own}; session=s1` } });
  await send(gateway.port, { path: '/account', headers: { ...BROWSER_HEADERS, cookie: own } });

  const decisions = await waitForDecisions(gateway.logs, 2);
  t.equal(decisions[1].riskgate.signals.account.known_device, true, 'riskgate still reads it');
  t.equal(upstream.requests[1].headers.cookie, 'session=s1; theme=dark', 'a login reaches the app without it');
  t.equal(upstream.requests[2].headers.cookie, 'session=s1', 'so does any other request');
  t.equal(upstream.requests[3].headers.cookie, undefined, 'and a request with no other cookie has none');
});

t.test('device cookie without Secure when configured off', async (t) => {
  const { gateway } = await setup(t, { config: { device_cookie: { secure: false } } });

  const reply = await login(gateway.port, 'alice', 'wonderland');

  const cookies = setCookies(reply.headers);
  t.equal(cookies.length, 1);
  t.notMatch(cookies[0], /Secure/i, 'no Secure attribute');
  t.match(cookies[0], /; HttpOnly(;|$)/, 'still HttpOnly');
});

t.test('device cookie SameSite as configured', async (t) => {
  const { gateway: lax } = await setup(t);
  const { gateway: none } = await setup(t, { config: { device_cookie: { same_site: 'none' } } });
  const { gateway: strict } = await setup(t, { config: { device_cookie: { same_site: 'strict' } } });

  const [laxCookie] = setCookies((await login(lax.port, 'alice', 'wonderland')).headers);
  const [noneCookie] = setCookies((await login(none.port, 'alice', 'wonderland')).headers);
  const [strictCookie] = setCookies((await login(strict.port, 'alice', 'wonderland')).headers);

  t.match(laxCookie, /; SameSite=Lax(;|$)/, 'Lax by default');
  t.match(noneCookie, /; SameSite=None; Secure$/, 'None, with Secure, for login clients on other sites');
  t.match(strictCookie, /; SameSite=Strict(;|$)/);
});

t.test('device cookie joins the app cookies', async (t) => {
  const { upstream, gateway } = await setup(t);
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(200, [
      'Content-Type', 'application/json',
      'Set-Cookie', 'session=s3ss10n; HttpOnly; Path=/',
      'Set-Cookie', 'theme=dark; Path=/',
    ]);
    response.end('{"ok":true}');
    return true;
  };

  const reply = await login(gateway.port, 'alice', 'wonderland');

  const cookies = setCookies(reply.headers);
  t.equal(cookies.length, 3, "the app's two cookies and the device cookie");
  t.equal(cookies[0], 'session=s3ss10n; HttpOnly; Path=/', "the app's first cookie is unchanged");
  t.equal(cookies[1], 'theme=dark; Path=/', "the app's second cookie is unchanged");
  t.match(cookies[2], /^__Host-rg_device=/, 'the device cookie comes last');
});

t.test('failed login sets no device cookie', async (t) => {
  const { gateway } = await setup(t);

  const reply = await login(gateway.port, 'alice', 'wrong-password');

  t.equal(reply.status, 401, "the app's 401 comes back");
  t.same(reply.json(), { ok: false });
  t.equal(setCookies(reply.headers).length, 0, 'no Set-Cookie');
});

t.test('returning device is known on the next login', async (t) => {
  const { gateway } = await setup(t);
  const first = await login(gateway.port, 'alice', 'wonderland');
  const cookie = setCookies(first.headers)[0].split(';')[0];

  const second = await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: `other=1; ${cookie}` } });

  t.equal(second.status, 200);
  const decisions = await waitForDecisions(gateway.logs, 2);
  t.equal(decisions[0].riskgate.signals.device.known, false, 'first login: unknown device');
  t.equal(decisions[1].riskgate.signals.device.known, true, 'second login: known device');
  t.notOk(gateway.logs.text.includes(cookie.split('=')[1]), 'the cookie value is not logged');
});

t.test('decision line follows the upstream answer', async (t) => {
  const { upstream, gateway } = await setup(t);
  let decisionsWhenAnswered = -1;
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    // Reply late: the gateway must not have logged anything about this login before then.
    setTimeout(() => {
      decisionsWhenAnswered = gateway.logs.decisions.length;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    }, 50);
    return true;
  };

  await login(gateway.port, 'alice', 'wonderland');

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decisionsWhenAnswered, 0, 'no decision line before the app answered');
  t.equal(decision.http.response.status_code, 200, 'the line carries the app status');
  t.ok(decision.riskgate.latency_ms.upstream >= 40, 'the line carries the upstream latency');
});

t.test('login path variants are judged', async (t) => {
  const { upstream, gateway } = await setup(t);

  for (const path of ['/Login', '/login/', '/login.json', '/login%20', '/login;jsessionid=1', '/%6cogin']) {
    await send(gateway.port, {
      method: 'POST',
      path,
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: '{"username":"alice","password":"wonderland"}',
    });
  }

  const decisions = await waitForDecisions(gateway.logs, 6);
  t.equal(decisions.length, 6, 'one decision line per variant');
  t.equal(upstream.requests.length, 6, 'each was forwarded after its decision');
});

t.test('conflicting framing is rejected unforwarded', async (t) => {
  const { upstream, gateway } = await setup(t);
  const body = '{"username":"alice","password":"wonderland"}';

  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write(
      'POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
  });

  t.match(answer, /^HTTP\/1\.1 400 /, 'answered 400');
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
});

t.test('non-login GET streams through untouched', async (t) => {
  const { upstream, gateway } = await setup(t);

  const reply = await send(gateway.port, { path: '/static/app.js?v=1&x=%20y', headers: { 'x-custom': 'kept' } });

  t.equal(reply.status, 200);
  t.same(reply.json(), { page: '/static/app.js' }, "the app's answer");
  t.equal(upstream.requests.length, 1);
  t.equal(upstream.requests[0].url, '/static/app.js?v=1&x=%20y', 'the target is passed on as sent');
  t.equal(upstream.requests[0].headers['x-custom'], 'kept', 'end-to-end headers are kept');
  t.equal(gateway.logs.decisions.length, 0, 'no decision line for a non-login request');
});

t.test('chunked upload streams through untouched', async (t) => {
  const { upstream, gateway } = await setup(t);
  // Larger than body_limit_bytes (64 KiB): only a login body is buffered and bounded.
  const body = Buffer.alloc(300_000);
  for (let index = 0; index < body.length; index += 1) body[index] = (index * 31 + 7) % 251;

  const reply = await send(gateway.port, {
    method: 'POST',
    path: '/upload',
    headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
    body,
  });

  t.equal(reply.status, 200);
  t.equal(upstream.requests.length, 1);
  const received = upstream.requests[0];
  t.equal(received.body.length, body.length, 'every byte arrived');
  t.equal(received.sha256, sha256(body), 'the bytes are unchanged');
  t.equal(received.headers['transfer-encoding'], 'chunked', 'streamed, not buffered');
  t.equal(received.headers['content-length'], undefined, 'no length was invented');
});

t.test('hop-by-hop request headers are dropped', async (t) => {
  const { upstream, gateway } = await setup(t);

  await send(gateway.port, {
    path: '/page',
    headers: {
      connection: 'keep-alive, x-hop-secret',
      'x-hop-secret': 'hop',
      'keep-alive': 'timeout=99',
      te: 'trailers',
      'proxy-authorization': 'Basic dXNlcjpwYXNz',
      'x-end-to-end': 'kept',
    },
  });

  const headers = upstream.requests[0].headers;
  t.equal(headers['x-hop-secret'], undefined, 'a header named in Connection is dropped');
  t.equal(headers['keep-alive'], undefined, 'Keep-Alive is dropped');
  t.equal(headers.te, undefined, 'TE is dropped');
  t.equal(headers['proxy-authorization'], undefined, 'Proxy-Authorization is dropped');
  t.notMatch(String(headers.connection ?? ''), /x-hop-secret/, "the client's Connection is not passed on");
  t.equal(headers['x-end-to-end'], 'kept', 'end-to-end headers are kept');
});

t.test('hop-by-hop response headers are dropped', async (t) => {
  const { upstream, gateway } = await setup(t);
  upstream.responder = (request, response) => {
    if (request.url !== '/hop') return false;
    response.writeHead(200, [
      'Content-Type', 'text/plain',
      'Connection', 'x-upstream-hop',
      'X-Upstream-Hop', 'secret',
      'Keep-Alive', 'timeout=99',
      'X-Kept', 'yes',
    ]);
    response.end('hop body');
    return true;
  };

  const reply = await send(gateway.port, { path: '/hop' });

  t.equal(reply.body, 'hop body');
  t.equal(reply.headers['x-upstream-hop'], undefined, 'a header named in Connection is dropped');
  t.not(reply.headers['keep-alive'], 'timeout=99', "the app's Keep-Alive is dropped");
  t.equal(reply.headers['x-kept'], 'yes', 'end-to-end headers are kept');
});

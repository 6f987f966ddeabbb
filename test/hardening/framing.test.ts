import net from 'node:net';

import t, { type Test } from 'tap';

import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream, type ReceivedRequest } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { gatewayWithRoutes, nextSource, passLogin } from './passage.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';

let upstream: RecordingUpstream;
let gateway: TestGateway;

// These tests check which requests are judged, not what the rules decide. The same account
// logs in at many readings of the login path, each an unknown outcome the unsuccessful counter
// counts, so rules run in monitor mode.
t.before(async () => {
  upstream = await new RecordingUpstream().start();
  gateway = await startTestGateway({ upstream: upstream.url, config: { mode: 'monitor' } });
});

t.teardown(async () => {
  await gateway.close();
  await upstream.stop();
});

t.beforeEach(() => {
  upstream.requests.length = 0;
  gateway.logs.lines.length = 0;
});

const BODY = '{"username":"alice","password":"wonderland"}';
const HEAD = [
  'Host: riskgate.test',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Accept: application/json',
  'Accept-Language: en-GB',
  'Content-Type: application/json',
].join('\r\n');

/** Every POST the app received has a decision line with its request id. */
async function assertAllJudged(t: Test) {
  const posts = upstream.requests.filter((received) => received.method === 'POST');
  const ids = posts.map((received) => received.headers['x-request-id']);
  await waitFor(() => ids.every((id) => gateway.logs.decisions.some((line) => line.http.request.id === id)),
    'a decision line for every forwarded request').catch(() => undefined);
  for (const received of posts) {
    const decided = gateway.logs.decisions.some((line) => line.http.request.id === received.headers['x-request-id']);
    t.ok(decided, `${received.method} ${received.url} reached the app with a decision`);
  }
}

t.test('conflicting framing is rejected and the connection closed', async (t) => {
  const cases: [string, string][] = [
    ['Content-Length with chunked', `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['chunked with Content-Length', `Transfer-Encoding: chunked\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['two Content-Length values', `Content-Length: ${BODY.length}\r\nContent-Length: 5\r\n\r\n${BODY}`],
    ['Content-Length list', `Content-Length: ${BODY.length}, 5\r\n\r\n${BODY}`],
    ['Content-Length 41, 5', `Content-Length: 41, 5\r\n\r\n${BODY}`],
    ['Content-Length with a sign', `Content-Length: +${BODY.length}\r\n\r\n${BODY}`],
    ['chunked then identity', `Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    ['chunked twice', `Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['obs-fold in a header', `X-Note: one\r\n two\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['space before the colon', `Content-Length : ${BODY.length}\r\n\r\n${BODY}`],
    ['bare LF line ends', `Content-Length: ${BODY.length}\n\n${BODY}`],
    ['bare CR in a header', `X-Note: a\rb\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['bad chunk size', `Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n`],
  ];

  for (const [name, rest] of cases) {
    const exchange = await rawExchange(gateway.port, `POST /login HTTP/1.1\r\n${HEAD}\r\n${rest}`, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
    t.equal(exchange.closedByServer, true, `${name}: the connection is closed`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
});

t.test('a CONNECT request gets 405 and a log line', async (t) => {
  for (const target of ['127.0.0.1:9', '/login']) {
    const exchange = await rawExchange(gateway.port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 405, `CONNECT ${target}: 405`);
    t.match(exchange.text, /opens no CONNECT tunnel/, 'the problem says why');
    t.ok(exchange.closedByServer, 'the connection is closed');
  }
  const lines = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'CONNECT request');
  t.equal(lines.length, 2, 'each is logged');
  t.match(lines[0].source?.ip, /^127\.0\.0\.\d+$/, 'with the client address, so an operator can act on it');
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
});

t.test('unsupported transfer codings are rejected', async (t) => {
  for (const coding of ['gzip, chunked', 'identity, chunked', 'x-custom, chunked']) {
    const exchange = await rawExchange(
      gateway.port,
      `POST /login HTTP/1.1\r\n${HEAD}\r\nTransfer-Encoding: ${coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      { source: nextSource() },
    );
    t.equal(exchange.statuses[0], 501, `${coding}: 501`);
    t.equal(exchange.closedByServer, true, `${coding}: the connection is closed`);
  }
  const other = await rawExchange(gateway.port,
    'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  t.equal(other.statuses[0], 501, 'other routes reject it too, since riskgate re-frames every request');
  t.equal(upstream.requests.length, 0);
});

t.test('rejected bad body gets one response', async (t) => {
  // Node accepts the headers, so riskgate responds with 501, and Node then fails to parse
  // the body. That parse error belongs to the request already rejected.
  for (const [coding, target] of [['none', '/login'], ['identity', '/upload'], ['gzip', '/login'], ['chunked', '/login']]) {
    const before = gateway.logs.lines.filter((line) => line.message === 'malformed request rejected').length;
    // A PUT to a login path gets 405 before its body is read, here a body with a bad chunk.
    const request = coding === 'chunked'
      ? `PUT ${target} HTTP/1.1\r\n${HEAD}\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n`
      : `POST ${target} HTTP/1.1\r\n${HEAD}\r\nTransfer-Encoding: ${coding}\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`;
    const exchange = await rawExchange(gateway.port, request, { source: nextSource() });
    t.same(exchange.statuses, [coding === 'chunked' ? 405 : 501], `${coding} on ${target}: one answer`);
    t.equal(exchange.closedByServer, true, `${coding} on ${target}: the connection is closed`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = gateway.logs.lines.filter((line) => line.message === 'malformed request rejected').length;
    t.equal(after - before, 1, `${coding} on ${target}: one log line`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
});

t.test('forwarded login is re-framed with one Content-Length', async (t) => {
  const exchange = await rawExchange(gateway.port,
    `POST /login HTTP/1.1\r\n${HEAD}\r\nTransfer-Encoding: Chunked\r\n\r\n${BODY.length.toString(16)};ext=1\r\n${BODY}\r\n0\r\nX-Trailer: t\r\n\r\n`,
    { source: nextSource() });

  t.equal(exchange.statuses[0], 200);
  t.equal(upstream.logins.length, 1);
  const raw = upstream.logins[0].rawHeaders.map((value, index) => (index % 2 === 0 ? value.toLowerCase() : value));
  t.same(raw.filter((value, index) => index % 2 === 0 && value === 'content-length'), ['content-length'], 'one Content-Length');
  t.equal(upstream.logins[0].headers['content-length'], String(BODY.length));
  t.notOk(raw.includes('transfer-encoding'), 'no Transfer-Encoding');
  t.notOk(raw.includes('x-trailer'), 'trailers are not forwarded as headers');
  await assertAllJudged(t);
});

t.test('pipelined requests after a login are each judged', async (t) => {
  const second = '{"username":"bob","password":"x"}';
  const smuggledBody = '{"username":"carol","password":"x"}';
  const smuggled = `POST /login HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${smuggledBody.length}\r\n\r\n${smuggledBody}`;
  const stream = [
    `POST /login HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
    `POST /LOGIN HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${second.length}\r\n\r\n${second}`,
    `GET /account HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`,
    // A Content-Length of zero leaves the next request in the stream, where it is parsed anew.
    `POST /login/ HTTP/1.1\r\n${HEAD}\r\nContent-Length: 0\r\n\r\n${smuggled}`,
  ].join('');

  const exchange = await rawExchange(gateway.port, stream, { source: nextSource(), responses: 5 });

  t.equal(exchange.statuses.length, 5, 'five responses on one connection');
  t.same(upstream.logins.map((received) => received.username ?? null), ['alice', 'bob', null, 'carol'], 'each login was forwarded on its own');
  t.equal(upstream.requests.length, 5);
  await assertAllJudged(t);
});

t.test('login path variants are judged as logins', async (t) => {
  const targets = ['/LOGIN', '/login/', '/%6cogin', '/%6C%6F%67%69%6E', '/login;x', '/login;jsessionid=1/', '/login//',
    '/login%2f', '/LoGiN?next=/',
    // Servlet containers drop matrix parameters.
    '/login/;x', '/;x/login',
    // Rails formats and Spring suffix matching route these to /login.
    '/login.json', '/LOGIN.JSON', '/login.tar.gz', '/login.mp4',
    // Java's equalsIgnoreCase matches a dotless i with i, and Java lower-cases a dotted capital I to i.
    '/log%C4%B1n', '/LOG%C4%B1N', '/log%C4%B0n', '/LOG%C4%B0N',
    // Spring's AntPathMatcher with trimTokens trims each segment.
    '/login%20', '/%20login', '/login%20/',
    // ASP.NET removes cookieless-session segments before routing.
    '/(S(abc123))/login', '/(A(x)F(y))/login',
    // PHP front controllers (Laravel, Symfony) route by the path after index.php, also under
    // an older extension whose digit an API version reading would take.
    '/index.php/login', '/public/index.php/LOGIN', '/index.php5/login', '/app/index.php3/login',
    // CGI, FastCGI and WSGI scripts route by PATH_INFO too.
    '/cgi-bin/index.cgi/login', '/dispatch.fcgi/login', '/app.wsgi/login', '/index.py/login', '/index.phar/login',
    // ColdFusion front controllers (ColdBox, FW/1, CFWheels) and Lua scripts.
    '/index.cfm/login', '/index.cfm/login/', '/rewrite.cfml/login', '/app.lua/login',
    // Struts 2 dynamic method invocation and an NTFS data stream.
    '/login!execute', '/login::$DATA', '/LOGIN:x', '/login!x1', '/login:x1',
    // CodeIgniter reads a query that starts with "/" as the path, and Drupal 7 routes by "q".
    '/?/login', '/index.php?/login&x=1', '/?q=login', '/other?q=/LOGIN', '/app/?/login', '/?login',
    // PHP reads these keys as q.
    '/node?%20q=login', '/node?+q=login', '/node?q%00x=login',
    // Windows drops trailing dots and spaces from names.
    '/login%20.', '/LOGIN%20%20.', '/login%20./',
    // Accent-insensitive collations, where Drupal looks up its paths, ignore accents.
    '/l%C3%B3gin', '/?q=l%C3%B3gin', '/LO%CC%81GIN',
    // They give ignorable characters (soft hyphen, tatweel) no weight and read ł and ø as l
    // and o. Compatibility forms (full width, script ℓ, Roman numeral ⅰ) read as the letters
    // NFKC gives them.
    '/lo%C2%ADgin', '/lo%E2%80%8Bgin', '/log%E2%81%A0in', '/%EF%BD%8Cogin', '/%E2%84%93ogin', '/log%E2%85%B0n',
    '/?q=%EF%BD%8Cogin', '/%EF%BC%8Flogin', '/(s(abc123))/log%C2%ADin', '/%C5%82ogin', '/login%D9%80', '/l%C3%98gin'];

  for (const target of targets) {
    const before = gateway.logs.decisions.length;
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `${target}: answered`);
    await waitFor(() => gateway.logs.decisions.length > before, `a decision for ${target}`);
    t.equal(gateway.logs.decisions.length, before + 1, `${target}: judged as a login`);
  }
  t.equal(upstream.requests.length, targets.length);
  await assertAllJudged(t);
});

t.test('unreadable login paths are rejected, not forwarded', async (t) => {
  const targets = ['/login%00', '/login%', '/%ZZlogin', '/login%252f', '/lo%5Cgin', 'http://riskgate.test/login', '*',
    // NFKC reads full-width forms as a backslash, a percent sign and dots.
    '/lo%EF%BC%BCgin', '/login%EF%BC%85252f', '/x/%EF%BC%8E%EF%BC%8E/login',
    // No fragment belongs in a request target; an app that keeps it as text reads /login here.
    '/x#/../login',
    // Apps resolve dot segments in different ways: servlet containers read `..;` as `..`,
    // PHP's PATH_INFO and Express's /login/:step? keep `..` as text, and WHATWG parsing
    // keeps the empty segment in /login//.. and so reads /login/.
    '/./login', '/api/../login', '/%2e/login', '/login/.', '/x/%2e%2e/login', '/x/..;/login', '/..;/login',
    '/x/%2e%2e;jsessionid=1/login', '/login/.;x', '/login/..', '/login/%2e%2e', '/login/..%3b', '/login/%20..', '/login//..',
    '/login/%20/..', '/login.php/..;x',
    // WHATWG parsing reads //x/login as host x and path /login.
    '//login', '//x/login', '/%2fx/login',
    // IIS serves a Windows short name as the long name it stands for.
    '/LOGIN~1', '/login~2.php', '/PROGRA~1/login',
    // Older ASP.NET releases take ";" and "(" in a cookieless value, and remove a group that
    // ends inside a segment, so each of these is /login there.
    '/(S(a;b))/login', '/(S(a(b))/login', '/(S(x%3By))/login', '/(S(abc))/lo/(S(abc))gin',
    // NTFS reads a directory's $INDEX_ALLOCATION stream as the directory itself.
    '/x::$INDEX_ALLOCATION/login', '/x:$I30:$INDEX_ALLOCATION/login', '/x::%24index_allocation/../login',
    // CodeIgniter drops empty and dot segments of a path it reads from the query, and
    // Drupal routes q=login/.. to login.
    '/?//login', '/?/../login', '/?/login/..', '/index.php?//login', '/index.php?/../login', '/node?q=login/..',
    '/node?q=login/x/..',
    // CodeIgniter 4 resolves them instead: x/../login is login there.
    '/?/x/../login', '/index.php?/x/../login', '/?/a/b/../../login', '/?x/../login', '/?x/./../login'];

  for (const target of targets) {
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${target}: 400`);
  }
  t.equal(upstream.requests.length, 0);
});

t.test('login with ambiguous headers is rejected', async (t) => {
  const cases: [string, string][] = [
    ['two Content-Type headers', `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['Connection naming Content-Type', `Connection: keep-alive, Content-Type\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['Connection naming Cookie', `Cookie: a=b\r\nConnection: cookie\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
  ];

  for (const [name, rest] of cases) {
    const exchange = await rawExchange(gateway.port, `POST /login HTTP/1.1\r\n${HEAD}\r\n${rest}`, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
  }
  t.equal(upstream.requests.length, 0);
});

t.test('expect continue login is judged and forwarded once', async (t) => {
  const exchange = await rawExchange(gateway.port,
    `POST /login HTTP/1.1\r\n${HEAD}\r\nExpect: 100-continue\r\nContent-Length: ${BODY.length}\r\n\r\n`,
    { pieces: [`POST /login HTTP/1.1\r\n${HEAD}\r\nExpect: 100-continue\r\nContent-Length: ${BODY.length}\r\n\r\n`, BODY], pauseMs: 50, source: nextSource() });

  t.same(exchange.statuses, [100, 200]);
  t.equal(upstream.logins.length, 1);
  await assertAllJudged(t);
});

t.test('login path by another method with a body is rejected', async (t) => {
  const cases: [string, string][] = [['PUT', '/login'], ['PATCH', '/LOGIN/'], ['DELETE', '/login.json'], ['GET', '/login'], ['POST', '/login/']];

  for (const [method, target] of cases.slice(0, 4)) {
    const exchange = await rawExchange(gateway.port, rawRequest(method, target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 405, `${method} ${target}: 405`);
    t.match(exchange.text, /\r\nallow: POST\r\n/i, `${method} ${target}: names the login method`);
    t.equal(exchange.closedByServer, true, `${method} ${target}: the connection is closed`);
  }
  t.equal(upstream.requests.length, 0, 'no body reached the app on a login path unjudged');

  const page = await rawExchange(gateway.port, 'GET /login HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });
  const judged = await rawExchange(gateway.port, rawRequest(cases[4][0], cases[4][1], loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(page.statuses[0], 200, 'the login page itself is still served');
  t.equal(judged.statuses[0], 200, 'the login method is judged and forwarded');
  t.equal(upstream.requests.length, 2);
  await assertAllJudged(t);
});

t.test('login path by another method with a password in the query is rejected', async (t) => {
  const targets = ['/login?username=bob&password=x', '/LOGIN/?USERNAME=bob&PASSWD=x', '/login?x=1;username=bob;password=x',
    '/login?username[]=bob&password[]=x', '/login?[username]=bob&[password]=x', '/login?+username=bob&+password=x',
    '/login?username%00x=bob&password%00x=x', '/login?user=bob&pwd=x', '/login?username=bob&pw=x',
    '/login?username=bob&[pw]=x', '/login?username=bob&senha=x', '/login?username=bob&Kennwort=x'];

  for (const target of targets) {
    const exchange = await rawExchange(gateway.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 405, `GET ${target}: 405`);
  }
  t.equal(upstream.requests.length, 0, 'no query password reached the app on a login path unjudged');

  const page = await rawExchange(gateway.port, 'GET /login?next=/account HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });
  const fragment = await rawExchange(gateway.port, 'GET /x#/../login?username=bob&password=x HTTP/1.1\r\nHost: riskgate.test\r\n\r\n',
    { source: nextSource() });
  t.equal(fragment.statuses[0], 400, 'a request target with a fragment is rejected by any method');
  const backslash = await rawExchange(gateway.port, 'GET /x\\..\\login?username=bob&password=x HTTP/1.1\r\nHost: riskgate.test\r\n\r\n',
    { source: nextSource() });
  t.equal(backslash.statuses[0], 400, 'an unreadable path with a query password is rejected by any method');
  const prefilled = await rawExchange(gateway.port, 'GET /login?username=bob HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });
  t.equal(page.statuses[0], 200, 'the login page with another query is still served');
  t.equal(prefilled.statuses[0], 200, 'a login page link that fills in the username is still served');
});

t.test('route password field spellings in the query', async (t) => {
  // PHP drops leading spaces and cuts a name at NUL. Spring's binder reads `!clave` as the default of clave.
  // ASP.NET trims names, and qs reads `user[mdp]` as the JSON field `user.mdp`.
  const { local, app } = await gatewayWithRoutes(t, [
    { path: '/login', password_field: 'clave' },
    { path: '/api/login', password_field: 'user.mdp' },
  ]);
  const targets = ['/login?username=bob&clave=x', '/login?username=bob&%20clave=x', '/login?username=bob&+clave=x',
    '/login?username=bob&clave%00x=x', '/login?username=bob&!clave=x', '/login?username=bob&[clave]=x', '/login?username=bob&CLAVE=x',
    '/login?username=bob&clave%20=x', '/login?username=bob&%09clave=x', '/LOGIN/x?username=bob&%20clave=x',
    '/api/login?username=bob&user[mdp]=x', '/api/login?username=bob&user.mdp=x'];

  for (const target of targets) {
    const exchange = await rawExchange(local.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 405, `GET ${target}: 405`);
  }
  t.equal(app.requests.length, 0, 'no query password reached the app unjudged');

  const other = await rawExchange(local.port, 'GET /login?username=bob&claves=x&enclave=1 HTTP/1.1\r\nHost: riskgate.test\r\n\r\n',
    { source: nextSource() });
  t.equal(other.statuses[0], 200, 'a field that no parser reads as clave still passes');
});

t.test('two Host headers are rejected without harm', async (t) => {
  const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==';
  const cases: [string, string][] = [
    ['login', `POST /login HTTP/1.1\r\nHost: other.test\r\n${HEAD}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['other path', 'GET /account HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'],
    // Without the Host check, forwarding this upgrade throws outside any handler and stops the process.
    ['WebSocket upgrade', `GET /socket HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n${upgrade}\r\n\r\n`],
  ];

  for (const [name, request] of cases) {
    const exchange = await rawExchange(gateway.port, request, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
    t.equal(exchange.closedByServer, true, `${name}: the connection is closed`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
  const rejections = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'invalid host header');
  t.equal(rejections.length, cases.length, 'each rejection is logged with its reason');
  t.equal(gateway.logs.lines.filter((line) => line.log.level === 'error').length, 0, 'no error was logged');

  const after = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(after.statuses[0], 200, 'the gateway still serves logins');
});

t.test('a request without Host gets a problem and a log line', async (t) => {
  const noHost = HEAD.split('\r\n').filter((line) => !line.startsWith('Host:')).join('\r\n');
  const cases: [string, string][] = [
    ['HTTP/1.1 login', `POST /login HTTP/1.1\r\n${noHost}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['HTTP/1.1 page', 'GET /account HTTP/1.1\r\n\r\n'],
    // HTTP/1.0 may leave Host out, but an app that routes by it would return an error for a login.
    ['HTTP/1.0 login', `POST /login HTTP/1.0\r\n${noHost}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`],
  ];
  for (const [name, request] of cases) {
    const exchange = await rawExchange(gateway.port, request, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
    t.match(exchange.text, /"title":"missing host header"/, `${name}: a problem body says why`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
  t.equal(gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'missing host header').length, 3, 'each is logged');
  t.equal(gateway.logs.decisions.length, 0, 'and no login was counted');

  // Load balancer health checks often send HTTP/1.0 without Host to pages other than the login.
  const probe = await rawExchange(gateway.port, 'GET /health HTTP/1.0\r\n\r\n', { source: nextSource() });
  t.equal(probe.statuses[0], 200, 'an HTTP/1.0 request to another path without Host is forwarded');
  t.equal(upstream.requests[0]?.headers.host, new URL(upstream.url).host, 'with the app\'s own name as Host');
});

t.test('chunked bodies on other paths cannot smuggle a login', async (t) => {
  const smuggledBody = '{"username":"carol","password":"x"}';
  const smuggled = `POST /login HTTP/1.1\r\n${HEAD}\r\nX-Forwarded-For: 198.51.100.77\r\n` +
    `Content-Length: ${smuggledBody.length}\r\n\r\n${smuggledBody}`;
  const chunked = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;

  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'POST']) {
    upstream.requests.length = 0;
    const exchange = await rawExchange(gateway.port,
      `${method} /account HTTP/1.1\r\nHost: riskgate.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      { source: nextSource() });

    t.equal(exchange.statuses.length, 1, `${method}: one response`);
    await waitFor(() => upstream.requests.length >= 1, `${method}: the app's request`);
    t.same(upstream.requests.map((received) => `${received.method} ${received.url}`), [`${method} /account`],
      `${method}: the app read one request, with no login inside`);
    t.equal(upstream.requests[0].body.toString(), smuggled, `${method}: the body reached the app as a body`);
    t.equal(upstream.logins.length, 0, `${method}: no unjudged login`);
  }

  // The pooled connections to the app still frame later requests right.
  upstream.requests.length = 0;
  const reply = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(reply.statuses[0], 200);
  await assertAllJudged(t);
});

t.test('requests with more header fields than the limit are refused before any framing', async (t) => {
  const smuggledBody = '{"username":"carol","password":"x"}';
  const smuggled = `POST /login HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${smuggledBody.length}\r\n\r\n${smuggledBody}`;
  // Node hides fields past its 2,000th from handlers, yet frames the body by a hidden Content-Length.
  const hidden = 'a:\r\n'.repeat(2000);
  const cases: [string, string][] = [
    ['a Content-Length after 2,000 fields', `GET /account HTTP/1.1\r\nHost: riskgate.test\r\n${hidden}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`],
    ['a login with 150 fields', `POST /login HTTP/1.1\r\n${HEAD}\r\n${'x-filler: 1\r\n'.repeat(145)}Content-Length: ${BODY.length}\r\n\r\n${BODY}`],
    ['an upgrade with 150 fields', `GET /socket HTTP/1.1\r\nHost: riskgate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${'x-filler: 1\r\n'.repeat(145)}\r\n`],
  ];

  for (const [name, request] of cases) {
    const exchange = await rawExchange(gateway.port, request, { source: nextSource() });
    t.equal(exchange.statuses[0], 431, `${name}: 431`);
    t.equal(exchange.statuses.length, 1, `${name}: one response, no second one from a smuggled request`);
    t.equal(exchange.closedByServer, true, `${name}: the connection is closed`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');

  // At the limit, the app still reads the address riskgate adds after the client's fields.
  const fields = `${HEAD}\r\n${'x-filler: 1\r\n'.repeat(94)}Content-Length: ${BODY.length}`;
  const atLimit = await rawExchange(gateway.port, `POST /login HTTP/1.1\r\n${fields}\r\n\r\n${BODY}`, { source: nextSource() });
  t.equal(atLimit.statuses[0], 200, 'a login with 100 fields is judged and forwarded');
  t.ok(upstream.requests[0]?.headers['x-forwarded-for'], 'the app reads the client address riskgate set');
  await assertAllJudged(t);
});

t.test('a body sent to an unreadable path is refused by any method', async (t) => {
  // An app that routes by the URL's pathname reads /login from an absolute-form target.
  const targets = ['http://riskgate.test/login', '/login\\', '/login%5c', '/login%ZZ', '/login%00'];

  for (const target of targets) {
    for (const method of ['PUT', 'PATCH']) {
      const exchange = await rawExchange(gateway.port, rawRequest(method, target, loginHeaders(BODY), BODY), { source: nextSource() });
      t.equal(exchange.statuses[0], 400, `${method} ${target}: 400`);
    }
  }
  t.equal(upstream.requests.length, 0, 'no body reached the app through an unreadable path');

  const page = await rawExchange(gateway.port, 'GET /login%ZZ HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });
  t.equal(page.statuses[0], 200, 'a request without a body to such a path is still forwarded, for the app to answer');
});

t.test('other spellings of an API version segment are judged', async (t) => {
  const app = await new RecordingUpstream().start();
  const local = await startTestGateway({ upstream: app.url, config: { login_routes: [{ path: '/api/v1/auth/login' }] } });
  t.teardown(async () => {
    await local.close();
    await app.stop();
  });
  // ASP.NET API Versioning reads v1.0 as v1, and Spring 7 reads each of these as version 1:
  // it skips every character before the first digit and reads Unicode digits (U+0661, U+1D7CF).
  const targets = ['/api/v1/auth/login', '/api/v1.0/auth/login', '/api/V1.0.0/auth/login', '/api/v01/auth/login',
    '/api/1/auth/login', '/api/version-1/auth/login', '/api/release_1/auth/login',
    '/api/v%D9%A1/auth/login', '/api/v%F0%9D%9F%8F/auth/login'];

  for (const target of targets) {
    const before = local.logs.decisions.length;
    const exchange = await rawExchange(local.port, rawRequest('POST', target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `${target}: answered`);
    await waitFor(() => local.logs.decisions.length > before, `a decision for ${target}`);
  }
  const other = await rawExchange(local.port, rawRequest('POST', '/api/v2/auth/login', loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(other.statuses[0], 200, 'another version passes');
  t.equal(local.logs.decisions.length, targets.length, 'only the route\'s version is judged');
});

t.test('paths below a login path are judged as that login', async (t) => {
  const app = await new RecordingUpstream().start();
  const local = await startTestGateway({
    upstream: app.url,
    config: {
      log: { username: 'plain' },
      login_routes: [
        { id: 'web', path: '/login' },
        { id: 'wordpress', path: '/wp-login.php', body: 'form', username_field: 'log' },
        { id: 'partner', path: '/partner/signin', subpaths: 'forward' },
      ],
    },
  });
  t.teardown(async () => {
    await local.close();
    await app.stop();
  });

  // PHP's PATH_INFO runs /wp-login.php for /wp-login.php/x; prefix mounts and optional
  // route parameters (ASP.NET's {id?}) hand /login/x to the login handler.
  const form = 'log=alice&pwd=wonderland';
  const judged: [string, string, string][] = [
    ['/wp-login.php/x', form, 'application/x-www-form-urlencoded'],
    ['/wp-login.php/x/y.php', form, 'application/x-www-form-urlencoded'],
    ['/WP-LOGIN.PHP/', form, 'application/x-www-form-urlencoded'],
    ['/login/x', BODY, 'application/json'],
    ['/login/a/b', BODY, 'application/json'],
    ['/login.json/x', BODY, 'application/json'],
  ];
  for (const [target, body, type] of judged) {
    const before = local.logs.decisions.length;
    const exchange = await rawExchange(local.port, rawRequest('POST', target, loginHeaders(body, type), body), { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `${target}: answered`);
    await waitFor(() => local.logs.decisions.length > before, `a decision for ${target}`);
    const decision = local.logs.decisions[before];
    t.equal(decision.user.name, 'alice', `${target}: judged as alice's login`);
  }

  // An endpoint below the login path that takes no username, such as a code form, is judged by its address.
  const code = '{"code":"123456"}';
  const beforeCode = local.logs.decisions.length;
  const codeExchange = await rawExchange(local.port, rawRequest('POST', '/login/mfa', loginHeaders(code), code), { source: nextSource() });
  t.equal(codeExchange.statuses[0], 200, '/login/mfa without a username is answered');
  await waitFor(() => local.logs.decisions.length > beforeCode, 'a decision for /login/mfa');
  t.equal(local.logs.decisions[beforeCode].user?.name, undefined, '/login/mfa is judged without an account');

  const put = await rawExchange(local.port, rawRequest('PUT', '/login/x', loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(put.statuses[0], 405, 'a body by another method below a login path gets 405');
  const query = await rawExchange(local.port, 'GET /wp-login.php/x?log=alice&pwd=x HTTP/1.1\r\nHost: riskgate.test\r\n\r\n',
    { source: nextSource() });
  t.equal(query.statuses[0], 405, 'a query password below a login path gets 405');

  // A route with subpaths: forward leaves the paths below it to the app.
  const before = local.logs.decisions.length;
  const partner = await rawExchange(local.port, rawRequest('POST', '/partner/signin/callback', loginHeaders(BODY), BODY),
    { source: nextSource() });
  t.equal(partner.statuses[0], 200, 'a path below a subpaths: forward route is forwarded');
  t.equal(local.logs.decisions.length, before, 'and not judged');
  t.equal(app.requests.length, judged.length + 2, 'only the judged logins and the forwarded path reached the app');
});

t.test('login files are judged without their extension', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'wordpress', path: '/wp-login.php', body: 'form', username_field: 'log' },
    { id: 'webforms', path: '/Account/Login.aspx' },
  ]);

  // nginx's `try_files $uri $uri/ $uri.php` runs wp-login.php for /wp-login, and ASP.NET
  // FriendlyUrls serves Login.aspx at /Account/Login.
  const form = 'log=alice&pwd=wonderland';
  const judged: [string, string, string, string][] = [
    ['/wp-login', 'wordpress', form, 'application/x-www-form-urlencoded'],
    ['/WP-LOGIN/', 'wordpress', form, 'application/x-www-form-urlencoded'],
    ['/wp-login;x=1', 'wordpress', form, 'application/x-www-form-urlencoded'],
    ['/wp-login.json', 'wordpress', form, 'application/x-www-form-urlencoded'],
    ['/wp-login/x', 'wordpress', form, 'application/x-www-form-urlencoded'],
    ['/Account/Login', 'webforms', BODY, 'application/json'],
    ['/account/login/', 'webforms', BODY, 'application/json'],
    ['/Account/Login.json', 'webforms', BODY, 'application/json'],
  ];
  for (const [target, routeId, body, type] of judged) {
    const passage = await passLogin(local, app, target, body, type);
    t.equal(passage.status, 200, `${target}: answered by the app`);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
    t.equal(passage.decision?.user?.name, 'alice', `${target}: judged as alice's login`);
  }

  const put = await rawExchange(local.port, rawRequest('PUT', '/wp-login', loginHeaders(form), form), { source: nextSource() });
  t.equal(put.statuses[0], 405, 'a body by another method on the path without the extension gets 405');

  for (const target of ['/wp-loginx', '/wp', '/account/log']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: another path, not judged`);
  }
});

t.test('index files below a subpaths: forward route are judged', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'web', path: '/login', subpaths: 'forward' },
    { id: 'portal', path: '/portal/index.php', subpaths: 'forward' },
  ]);

  // Apache's DirectoryIndex and PHP's built-in server run login/index.php for /login/, and
  // IIS runs default.aspx.
  const judged: [string, string][] = [
    ['/login/index.php', 'web'], ['/login/INDEX.PHP', 'web'], ['/login/index', 'web'], ['/login/index.php;x=1', 'web'],
    ['/login/default.aspx', 'web'], ['/login/.json', 'web'], ['/login/index.php/', 'web'],
    ['/portal', 'portal'], ['/portal/', 'portal'], ['/portal/index', 'portal'], ['/portal/default.aspx', 'portal'],
    // PHP's PATH_INFO and ASP.NET run the index file for paths below it.
    ['/login/index.php/x', 'web'], ['/login/index.php%2Fx', 'web'], ['/login/default.aspx/x/y', 'web'],
    ['/portal/index.php/x', 'portal'],
    // The same, when the path below the index file reads as a directory itself.
    ['/login/index.php/index.php', 'web'], ['/login/index.php/index', 'web'], ['/login/index.php/.json', 'web'],
    ['/login/index.php/default.aspx', 'web'], ['/login/index/index', 'web'], ['/portal/index.php/index.php', 'portal'],
    ['/login/index.php/!x', 'web'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: answered by the app`);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }

  for (const target of ['/login/callback', '/login/indexes', '/login/x/index.php', '/portal/x']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: below the route, not judged`);
  }
});

t.test('logins routed by query parameters are judged', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'web', path: '/login' },
    { id: 'yii', path: '/site/login' },
    { id: 'opencart', path: '/account/login' },
    { id: 'jwt', path: '/wp-json/jwt-auth/v1/token' },
  ]);

  const judged: [string, string][] = [
    // ThinkPHP reads `s`, Phalcon `_url`.
    ['/?s=/login', 'web'], ['/index.php?s=login', 'web'], ['/public/index.php?_url=/login', 'web'],
    // Yii reads `r`, OpenCart `route` and `_route_`.
    ['/index.php?r=site/login', 'yii'], ['/index.php?r=site%2Flogin', 'yii'],
    ['/index.php?route=account/login', 'opencart'], ['/index.php?_route_=account/login', 'opencart'],
    // WordPress serves `rest_route=/x` as /wp-json/x.
    ['/?rest_route=/jwt-auth/v1/token', 'jwt'], ['/index.php?rest_route=%2Fjwt-auth%2Fv1%2Ftoken', 'jwt'],
    // PHP reads these keys as s, rest_route and _route_.
    ['/?%20s=login', 'web'], ['/?rest.route=/jwt-auth/v1/token', 'jwt'], ['/index.php?_route_%00x=account/login', 'opencart'],
    // ThinkPHP reads `|` as `/`, in `s` and in the path after its front controller.
    ['/?s=site|login', 'yii'], ['/?s=site%7Clogin', 'yii'], ['/index.php/site|login', 'yii'], ['/site%7Clogin', 'yii'],
    // OpenCart drops characters outside letters, digits, `_`, `/` (and `.`, `|` in 4.x).
    ['/index.php?route=account/log-in', 'opencart'], ['/index.php?route=acc-ount/login', 'opencart'],
    ['/index.php?route=account/login%7Clogin', 'opencart'], ['/index.php?route=account/lo%E2%80%8Bgin', 'opencart'],
    // PHP on hosts with arg_separator.input ";&" splits the query at ";" too.
    ['/?x=1;q=login', 'web'], ['/index.php?x=1;r=site/login', 'yii'], ['/?x=1;rest_route=/jwt-auth/v1/token', 'jwt'],
    // WordPress matches its routes with PCRE's "$", which matches before a final newline.
    ['/?rest_route=/jwt-auth/v1/token%0A', 'jwt'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: answered by the app`);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }

  // A target with a dot segment or a control character is unreadable, and it reaches a
  // login once they are dropped.
  const before = app.requests.length;
  for (const target of ['/?s=/login/..', '/?r=site/login/..', '/?_url=/login/.', '/?rest_route=/jwt-auth/v1/token/..',
    '/?/login%0A', '/index.php?/login%0A', '/?login%0A', '/?/log%09in']) {
    const exchange = await rawExchange(local.port, rawRequest('POST', target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${target}: 400`);
  }
  t.equal(app.requests.length, before, 'no unreadable query-routed login reached the app');

  for (const target of ['/?search=login', '/?sort=/login', '/?x_url=/login', '/?S=login']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: no routing parameter, not judged`);
  }
});

t.test('rest_route is read under a site\'s own REST prefix', async (t) => {
  // WordPress serves its REST API under the prefix a site sets (rest_url_prefix), and
  // `?rest_route=` reaches it whatever the prefix.
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'jwt', path: '/api/jwt-auth/v1/token' }]);

  for (const target of ['/?rest_route=/jwt-auth/v1/token', '/blog/index.php?rest_route=%2Fjwt-auth%2Fv1%2Ftoken']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: answered by the app`);
    t.equal(passage.decision?.riskgate.route, 'jwt', `${target}: judged by route jwt`);
  }
  const other = await passLogin(local, app, '/?rest_route=/wp/v2/posts');
  t.equal(other.decision, undefined, 'another REST route is not judged');
});

/**
 * Start an app that reads requests off each connection as Python's http.server does. It
 * reads a body only for POST, so a GET's body stays on the connection as the next request.
 * It stops reading after a request with `Connection: close`.
 */
async function bodyIgnoringApp(t: Test): Promise<{ url: string; requestLines: string[] }> {
  const requestLines: string[] = [];
  const server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const [requestLine, ...fields] = head.split('\r\n');
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        const consumed = end + 4 + (requestLine.startsWith('POST ') ? length : 0);
        if (buffered.length < consumed) return;
        buffered = buffered.subarray(consumed);
        requestLines.push(requestLine);
        const close = fields.some((field) => /^connection:\s*close$/i.test(field));
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${close ? 'connection: close\r\n' : ''}\r\nok`);
        if (close) {
          socket.end();
          return;
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requestLines };
}

t.test('a body the app leaves unread cannot carry a request to it', async (t) => {
  const app = await bodyIgnoringApp(t);
  const local = await startTestGateway({ upstream: app.url });
  t.teardown(() => local.close());

  const hidden = `POST /login HTTP/1.1\r\nHost: riskgate.test\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    const exchange = await rawExchange(local.port,
      `${method} /page HTTP/1.1\r\nHost: riskgate.test\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`, { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `${method} with a body: answered`);
  }
  // The next request reuses a pooled connection if one was left open.
  await rawExchange(local.port, 'GET /next HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });

  t.same(app.requestLines.filter((line) => line.startsWith('POST')), [], 'the app parsed no hidden login');
  t.equal(app.requestLines.length, 4, 'the app read the four requests sent to it, and nothing more');
  t.equal(local.logs.decisions.length, 0, 'no login was judged, because none was sent');
});

t.test('a Host header that is not host[:port] is rejected', async (t) => {
  // Code that builds a URL from Host and the target reads these as /login.
  // An empty Host makes `http://` + Host + `/x/login` read as host x and path /login.
  for (const host of ['127.0.0.1/login?', 'riskgate.test/login#', 'user@riskgate.test', 'riskgate.test:80/login', '', '\t']) {
    const exchange = await rawExchange(gateway.port, `POST /x/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${BODY.length}\r\n\r\n${BODY}`, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `Host: ${JSON.stringify(host)}: 400`);
  }
  // A trusted proxy passes X-Forwarded-Host on, and apps build their URL from it too.
  for (const forwarded of ['h/login?', '', 'a.test, b.test/login']) {
    const exchange = await rawExchange(gateway.port, `POST / HTTP/1.1\r\nHost: riskgate.test\r\nX-Forwarded-Host: ${forwarded}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `X-Forwarded-Host: ${JSON.stringify(forwarded)}: 400`);
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the app');

  for (const host of ['riskgate.test', 'riskgate.test:8080', '127.0.0.1:80', '[::1]:8080', 'xn--bcher-kva.example']) {
    const exchange = await rawExchange(gateway.port, `GET /page HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `Host: ${host}: forwarded`);
  }
});

/** Start a gateway whose form route names its fields `uname` and `secret_word`, with its own recording app. */
async function startFormRoute(t: Test) {
  const app = await new RecordingUpstream().start();
  const local = await startTestGateway({
    upstream: app.url,
    config: { login_routes: [{ path: '/login', body: 'form', username_field: 'uname', password_field: 'secret_word' }] },
  });
  t.teardown(async () => {
    await local.close();
    await app.stop();
  });
  return { app, local };
}

t.test('password fields under other names are refused on a login path by another method', async (t) => {
  const { app, local } = await startFormRoute(t);

  const targets = [
    // The W3Schools login form names its fields uname and psw.
    '/login?uname=victim&psw=x',
    '/login?uname=victim&pswd=x',
    '/login?uname=victim&sifre=x',
    '/login?uname=victim&heslo=x',
    '/login?uname=victim&jelszo=x',
    // The route's own password field, whatever its name.
    '/login?uname=victim&SECRET_WORD=x',
    // ASP.NET decodes %u escapes in the query, and .NET's case-insensitive match folds ſ.
    '/login?uname=victim&p%u0073w=x',
    '/login?uname=victim&p%u0073%u0077=x',
    '/login?uname=victim&p%C5%BFw=x',
    // A word that names no password does not hide one beside it.
    '/login?uname=victim&passkey_password=x',
  ];
  for (const target of targets) {
    const exchange = await rawExchange(local.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 405, `GET ${target}: 405`);
  }
  t.equal(app.requests.length, 0, 'none reached the app');

  // Login page links carry words that contain "pass" but name no password.
  for (const target of ['/login?passkey=1', '/login?passwordless=true', '/login?passport=1', '/login?compass=north']) {
    const exchange = await rawExchange(local.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`, { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `GET ${target}: the page is served`);
  }
  t.equal(app.requests.length, 4, 'only those reached the app');
});

t.test('password cookies are removed from other requests to a login path', async (t) => {
  const { app, local } = await startFormRoute(t);

  // PHP's $_REQUEST and ASP.NET's Request[] read cookies as parameters, so these would be
  // logins there. A sibling subdomain can plant such a cookie, so the page is still served.
  const cases: [string, string | undefined][] = [
    ['psw=x', undefined],
    ['theme=dark; secret_word=x', 'theme=dark'],
    ['senha=x; session=abc', 'session=abc'],
    ['j_password=x', undefined],
    ['txtPassword=x', undefined],
    // Parsers that split at `;` only read one cookie here: it goes whole, so no text of its
    // value becomes a cookie of its own.
    ['x=1, psw=x', undefined],
    ['psw=1,__Host-sess=planted; __Host-sess=owner; theme=dark', '__Host-sess=owner; theme=dark'],
    ['passport=1; session=abc; pinned=1', 'passport=1; session=abc; pinned=1'],
    // PHP before 8.0 decodes cookie names and cuts them at NUL.
    ['password%00x=x; theme=dark', 'theme=dark'],
    ['secret_word%00=x', undefined],
    // Those releases decoded byte by byte, so an escape that is not UTF-8 after the NUL is cut too.
    ['password%00%FF=x; theme=dark', 'theme=dark'],
    // Node reads these raw UTF-8 bytes as the Latin-1 "contraseÃ±a", and PHP reads contraseña.
    ['contraseña=x; theme=dark', 'theme=dark'],
  ];
  for (const [cookie] of cases) {
    const exchange = await rawExchange(local.port, `GET /login?uname=victim HTTP/1.1\r\nHost: riskgate.test\r\nCookie: ${cookie}\r\n\r\n`,
      { source: nextSource() });
    t.equal(exchange.statuses[0], 200, `Cookie: ${cookie}: the page is served`);
  }
  cases.forEach(([cookie, forwarded], index) =>
    t.equal(app.requests[index]?.headers.cookie, forwarded, `Cookie: ${cookie}: the app gets ${forwarded ?? 'no cookie'}`));
  const other = await rawExchange(local.port, 'GET /account HTTP/1.1\r\nHost: riskgate.test\r\nCookie: psw=x\r\n\r\n', { source: nextSource() });
  t.equal(other.statuses[0], 200);
  t.equal(app.requests.at(-1)?.headers.cookie, 'psw=x', 'other paths keep the app\'s cookies');
});

t.test('a cookie PHP reads as a nested password field is removed', async (t) => {
  const app = await new RecordingUpstream().start();
  const local = await startTestGateway({
    upstream: app.url,
    config: { login_routes: [{ path: '/customer/account/loginPost', body: 'form', username_field: 'login[username]', password_field: 'login[password]' }] },
  });
  t.teardown(async () => {
    await local.close();
    await app.stop();
  });

  // PHP reads `login[password]x` as $_COOKIE['login']['password'], dropping what follows the last bracket.
  const cookies = ['login[password]=x', 'login[password]x=x; theme=dark', 'login%5Bpassword%5D%00=x; theme=dark', 'login[passwordx]=1; theme=dark'];
  for (const cookie of cookies) {
    const target = '/customer/account/loginPost?login%5Busername%5D=victim';
    await rawExchange(local.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\nCookie: ${cookie}\r\n\r\n`, { source: nextSource() });
  }
  t.same(app.requests.map((request) => request.headers.cookie), [undefined, 'theme=dark', 'theme=dark', 'login[passwordx]=1; theme=dark'],
    'the app gets every cookie but the password');
});

t.test('a password cookie on an unreadable path is removed', async (t) => {
  // Apache resolves /x/../login before PHP reads $_REQUEST, cookies included.
  const targets = ['/x/../login?username=victim', '/x/%2e%2e/login?username=victim', '//login?username=victim'];
  const before = upstream.requests.length;

  for (const target of targets) {
    await rawExchange(gateway.port, `GET ${target} HTTP/1.1\r\nHost: riskgate.test\r\nCookie: password=guess; theme=dark\r\n\r\n`,
      { source: nextSource() });
  }
  const received = upstream.requests.slice(before);
  t.equal(received.length, targets.length, 'each page reached the app');
  for (const request of received) t.equal(request.headers.cookie, 'theme=dark', `${request.url}: without the password cookie`);
});

t.test('an encoded query mark after a login path is refused', async (t) => {
  // Apps that decode a path before they cut off its query read these as /login with a query.
  const cases: [string, string][] = [
    ['GET', '/login%3Fusername=victim%26password=MARKER-PASSWORD'],
    ['GET', '/LOGIN%3f'],
    ['POST', '/login%3Fusername=victim'],
    ['POST', '/login/%3Fx'],
    ['GET', '/login%23x'],
    ['PUT', '/login.json%3Fx'],
    // Segments are trimmed and matrix parameters dropped before the mark, as on any login path.
    ['POST', '/login%20%3Fusername=victim'],
    ['POST', '/login%C2%A0%3Fusername=victim'],
    ['POST', '/login;%3Fusername=victim'],
    // Read with the mark as a query's start, PHP routers take a login path from these.
    ['POST', '/index.php%3F/login'], ['POST', '/%3F/login'], ['POST', '/x%3F/login'], ['POST', '/index.php%3Fq=login'],
    ['POST', '/%3Fq=login'], ['POST', '/index.php%3Froute=login'], ['POST', '/index.php%23/login'],
  ];
  for (const [method, target] of cases) {
    const exchange = await rawExchange(gateway.port, rawRequest(method, target, loginHeaders(BODY), BODY), { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${method} ${target}: 400`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
  t.notMatch(gateway.logs.text, /MARKER-PASSWORD/, 'no log line holds the hidden query');
  const rejected = gateway.logs.lines.filter((line) => line.message === 'malformed request rejected');
  t.ok(rejected.length >= cases.length && rejected.every((line) => /^127\./.test(line.source?.ip)), 'each refusal names its client');

  const other = await rawExchange(gateway.port, 'GET /wiki/Who%3F HTTP/1.1\r\nHost: riskgate.test\r\n\r\n', { source: nextSource() });
  t.equal(other.statuses[0], 200, 'an encoded "?" elsewhere passes');

  // Each refusal writes a log line, so one connection may not carry many of them.
  const before = gateway.logs.lines.length;
  const refused = 'GET /login%3F HTTP/1.1\r\nHost: riskgate.test\r\n\r\n';
  const pipelined = await rawExchange(gateway.port, refused.repeat(50), { source: nextSource() });
  t.same(pipelined.statuses, [400], 'only the first of 50 pipelined refusals is answered');
  t.equal(pipelined.closedByServer, true, 'and the connection is closed after it');
  t.equal(gateway.logs.lines.length, before + 1, 'with one log line');
});

t.test('a %u escape in a login query is refused', async (t) => {
  // ASP.NET (System.Web) and classic ASP read both of these as username=alice.
  const targets = ['/login?username=al%u0069ce', '/login?user%u006eame=alice'];

  for (const target of targets) {
    const body = 'password=guess';
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(body, 'application/x-www-form-urlencoded'), body),
      { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `POST ${target}: 400`);
    t.match(exchange.text, /%u escape/, 'the detail names the escape');
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('a Next.js Server Action at a login path is refused', async (t) => {
  // Next.js runs the action this header names, and its arguments carry no field names.
  const body = '["victim","guess"]';
  const headers: [string, string][] = [...loginHeaders(body, 'text/plain;charset=UTF-8'), ['Next-Action', '7f3a9c0d1e2b']];

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });

  t.equal(exchange.statuses[0], 400);
  t.match(exchange.text, /Next\.js Server Action whose arguments riskgate cannot read/, 'the detail says why');
  t.equal(upstream.requests.length, 0, 'it did not reach the app');
});

t.test('a login that asks for another method is refused', async (t) => {
  // Rack, Laravel, Symfony and Express's method-override run these as a GET, and the login
  // page they return would read as a success for the posted username.
  const form = 'username=victim&password=guess&_method=GET';
  const cases: [string, [string, string][], string][] = [
    ['X-HTTP-Method-Override', [...loginHeaders(BODY), ['X-HTTP-Method-Override', 'GET']], BODY],
    ['X-HTTP-Method', [...loginHeaders(BODY), ['X-HTTP-Method', 'GET']], BODY],
    ['X-Method-Override', [...loginHeaders(BODY), ['X-Method-Override', 'GET']], BODY],
    ['a _method form field', loginHeaders(form, 'application/x-www-form-urlencoded'), form],
    ['a _method JSON key', loginHeaders('{"username":"victim","password":"guess","_method":"GET"}'),
      '{"username":"victim","password":"guess","_method":"GET"}'],
  ];

  for (const [name, headers, body] of cases) {
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
    t.match(exchange.text, /another request method/, `${name}: the detail says why`);
  }
  const query = await rawExchange(gateway.port, rawRequest('POST', '/login?_method=GET', loginHeaders(BODY), BODY), { source: nextSource() });
  t.equal(query.statuses[0], 400, 'a _method query field: 400');
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('a request pipelined behind a login refused for its body does not reach the app', async (t) => {
  const broken = '{"username":"alice","password":';
  const stream = [
    `POST /login HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${broken.length}\r\n\r\n${broken}`,
    'GET /account HTTP/1.1\r\nHost: riskgate.test\r\n\r\n',
    `POST /login HTTP/1.1\r\n${HEAD}\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
  ].join('');

  const exchange = await rawExchange(gateway.port, stream, { source: nextSource() });

  t.same(exchange.statuses, [400], 'only the refusal is answered');
  t.equal(exchange.closedByServer, true, 'and the connection is closed after it');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(upstream.requests.length, 0, 'nothing behind it reached the app');
});

t.test('a connection that pipelines too many requests is closed', async (t) => {
  const request = 'GET /account HTTP/1.1\r\nHost: riskgate.test\r\n\r\n';

  const within = await rawExchange(gateway.port, request.repeat(20), { source: nextSource(), responses: 20 });
  t.equal(within.statuses.length, 20, 'twenty pipelined requests are each answered');

  upstream.requests.length = 0;
  const source = nextSource();
  const flood = await rawExchange(gateway.port, request.repeat(5000), { source });
  // The gateway closes with unread requests in its buffer, to which the kernel replies with a reset.
  t.ok(flood.closedByServer || /ECONNRESET/.test(flood.error ?? ''), 'five thousand in one write close the connection');
  t.ok(flood.statuses.length <= 1, 'with at most the first one answered');
  t.ok(upstream.requests.length <= 1, 'and at most the first one forwarded');
  const lines = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'more than 32 pipelined requests');
  t.equal(lines.length, 1, 'one log line names the reason');
  t.equal(lines[0]?.source?.ip, source, 'and the client');
});

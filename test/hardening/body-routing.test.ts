import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

import t, { type Test } from 'tap';

import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { loginHeaders, rawExchange, rawRequest, sha256 } from './raw.js';

// WordPress routes a POST by its `rest_route` body field, and Yii 1.1 by `r`, so a form
// posted to any page can be a login at a route riskgate protects.
const ROUTES = [
  { id: 'jwt', path: '/wp-json/jwt-auth/v1/token', body: 'form' },
  { id: 'yii', path: '/site/login', body: 'form' },
  { id: 'api', path: '/api/session/new', body: 'form' },
];
const FORM = 'application/x-www-form-urlencoded';
const CREDENTIALS = 'username=alice&password=wonderland';

async function setUp(t: Test): Promise<{ gateway: TestGateway; app: RecordingUpstream }> {
  const app = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: app.url, config: { login_routes: ROUTES } });
  t.teardown(async () => {
    await gateway.close();
    await app.stop();
  });
  return { gateway, app };
}

function multipart(boundary: string, fields: [string, string | Buffer][], lineBreak = '\r\n'): Buffer {
  const parts = fields.map(([disposition, value]) => Buffer.concat([
    Buffer.from(`--${boundary}${lineBreak}Content-Disposition: form-data; ${disposition}${lineBreak}${lineBreak}`),
    Buffer.isBuffer(value) ? value : Buffer.from(value),
    Buffer.from(lineBreak),
  ]));
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--${lineBreak}`)]);
}

const R_PART = 'Content-Disposition: form-data; name="r"\r\n\r\nsite/login\r\n';
const USER_PART = '--zz\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--zz--\r\n';

/**
 * Bodies whose `r` part PHP finds, because it starts a part only after a line that is exactly
 * `--zz`, skipping every other line, and reads a line over 5 KiB with no line feed in pieces.
 */
const PHP_PART_PLACEMENTS = [
  // "--zzX" ends the part before it, but starts none: the next "--zz" line does.
  `--zz\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--zzX\r\nContent-Disposition: form-data; name="y"\r\n\r\n--zz\r\n${R_PART}${USER_PART}`,
  // A part after the closing delimiter.
  `--zz\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--zz--\r\n--zz\r\n${R_PART}${USER_PART}`,
  // A 5 KiB preamble with no line feed, so "--zz" right after it is a line of its own.
  `${'A'.repeat(5120)}--zz\r\n${R_PART}${USER_PART}`,
].map((body) => Buffer.from(body));

t.test('a form body that routes to a login path gets 400 and never reaches the app whole', async (t) => {
  const { gateway, app } = await setUp(t);

  const refused: [string, string, string | Buffer][] = [
    ['/', FORM, `rest_route=/jwt-auth/v1/token&${CREDENTIALS}`],
    ['/index.php', FORM, `${CREDENTIALS}&rest_route=%2Fjwt-auth%2Fv1%2Ftoken`],
    // PHP drops the spaces that start a name and reads `.` as `_`.
    ['/', FORM, `${CREDENTIALS}&+++rest_route=/jwt-auth/v1/token`],
    ['/', FORM, `${CREDENTIALS}&${'%20'.repeat(3000)}rest_route=/jwt-auth/v1/token`],
    ['/', FORM, `rest.route=/jwt-auth/v1/token&${CREDENTIALS}`],
    // Hosts with arg_separator.input = ";&" split at `;` too.
    ['/', FORM, `x=1;rest_route=/jwt-auth/v1/token&${CREDENTIALS}`],
    // WordPress matches its routes with PCRE's "$", which matches before a final newline.
    ['/', FORM, `rest_route=/jwt-auth/v1/token%0A&${CREDENTIALS}`],
    // A site whose REST prefix is `api` serves /api/session/new for rest_route=/session/new.
    ['/', FORM, `rest_route=/session/new&${CREDENTIALS}`],
    ['/', `${FORM}; charset=UTF-8`, `r=site/login&${CREDENTIALS}`],
    ['/index.php', FORM, `r=site%2Flogin&${CREDENTIALS}`],
    // A routed path with dot segments that reaches a login path once they are resolved.
    ['/', FORM, `rest_route=/jwt-auth/v1/x/../token&${CREDENTIALS}`],
    ['/', 'multipart/form-data; boundary=b0undary',
      multipart('b0undary', [['name="username"', 'alice'], ['name="rest_route"', '/jwt-auth/v1/token'], ['name="password"', 'wonderland']])],
    // PHP reads parts after a bare LF, and takes a quoted boundary.
    ['/', 'multipart/form-data; boundary="with space"',
      multipart('with space', [['name=rest_route', '/jwt-auth/v1/token'], ['name="username"', 'alice']], '\n')],
    // PHP reads the first `boundary`, whatever follows it before `=`.
    ['/', 'multipart/form-data; boundaryx=php; boundary=other',
      multipart('php', [['name="r"', 'site/login'], ['name="username"', 'alice']])],
    ['/', 'multipart/form-data; boundaryx=php; boundary=other',
      multipart('other', [['name="r"', 'site/login'], ['name="username"', 'alice']])],
    // PHP reads a quote left open to the end of the header, and skips every "=" after "name".
    ['/', 'multipart/form-data; boundary=zz', multipart('zz', [['name="rest_route', '/jwt-auth/v1/token'], ['name="username"', 'alice']])],
    ['/', 'multipart/form-data; boundary=zz', multipart('zz', [["name='r", 'site/login'], ['name="username"', 'alice']])],
    ['/', 'multipart/form-data; boundary=zz', multipart('zz', [['name=="rest_route"', '/jwt-auth/v1/token']])],
    // PHP appends a header line without ":" to the header before it.
    ['/', 'multipart/form-data; boundary=zz', multipart('zz', [['na\r\nme="r"', 'site/login'], ['name="username"', 'alice']])],
    ['/', 'multipart/form-data; boundary=zz', multipart('zz', [['name="rest_ro\r\nute"', '/jwt-auth/v1/token']])],
    ...PHP_PART_PLACEMENTS.map((body): [string, string, Buffer] => ['/index.php', 'multipart/form-data; boundary=zz', body]),
    // PHP takes an empty boundary: each part starts at a line that begins with "--".
    ['/index.php', 'multipart/form-data; boundary=', multipart('', [['name="rest_route"', '/jwt-auth/v1/token'], ['name="username"', 'alice']])],
    ['/index.php', 'multipart/form-data; boundary=""', multipart('', [['name="r"', 'site/login'], ['name="username"', 'alice']])],
    // PHP picks the body type by the start of Content-Type, whatever the parameters name.
    ['/index.php', `multipart/form-data; boundary=zz; charset=${FORM}`,
      multipart('zz', [['name="rest_route"', '/jwt-auth/v1/token'], ['name="username"', 'alice']])],
  ];

  for (const [target, type, body] of refused) {
    const before = app.requests.length;
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(body, type), body));
    const label = `${type.slice(0, 40)} ${String(body).slice(0, 60)}`;
    t.equal(exchange.statuses[0], 400, `${label}: 400`);
    t.match(exchange.text, /login path in a form body/, `${label}: the problem names the reason`);
    t.ok(exchange.closedByServer, `${label}: the connection is closed`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(app.requests.length, before, `${label}: the app got no whole request`);
  }

  const rejections = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'login path in a form body');
  t.equal(rejections.length, refused.length, 'each refusal is logged once');
  t.notMatch(gateway.logs.text, /wonderland/, 'no password is logged');
});

t.test('forms that route nowhere near a login path pass unchanged', async (t) => {
  const { gateway, app } = await setUp(t);

  const upload = Buffer.alloc(1024 * 1024, 'r');
  const passed: [string, string, string | Buffer][] = [
    ['/', FORM, 'rest_route=/wp/v2/posts&title=hello'],
    ['/', FORM, 'r=site/index&q=login'],
    // PHP reads names as written: neither is rest_route.
    ['/', FORM, 'Rest_Route=/jwt-auth/v1/token&xrest_route=/jwt-auth/v1/token'],
    // PHP reads no JSON body into $_POST.
    ['/', 'application/json', '{"rest_route":"/jwt-auth/v1/token","username":"alice","password":"wonderland"}'],
    ['/', FORM, `comment=${'a'.repeat(300_000)}&r=site%2Findex`],
    ['/upload', 'multipart/form-data; boundary=xyz',
      multipart('xyz', [['name="title"', '/site/login'], ['name="file"; filename="r.bin"', upload], ['name="r"', 'site/about']])],
  ];

  for (const [target, type, body] of passed) {
    const before = app.requests.length;
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(body, type), body));
    const label = `${type.slice(0, 40)} ${String(body).slice(0, 60)}`;
    t.equal(exchange.statuses[0], 200, `${label}: answered by the app`);
    t.equal(app.requests.length, before + 1, `${label}: forwarded once`);
    t.equal(app.requests[before]?.sha256, sha256(body), `${label}: byte-identical`);
  }
});

t.test('a streamed form is held one byte behind until the whole body is read', async (t) => {
  // An app that counts the body bytes it gets, whether or not the body completes.
  const seen: { expected: number; received: number; complete: boolean }[] = [];
  const app = http.createServer((request, response) => {
    const entry = { expected: Number(request.headers['content-length'] ?? -1), received: 0, complete: false };
    seen.push(entry);
    request.on('data', (chunk: Buffer) => { entry.received += chunk.length; });
    request.on('end', () => {
      entry.complete = true;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({
    upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
    config: { login_routes: ROUTES },
  });
  t.teardown(async () => {
    await gateway.close();
    app.closeAllConnections();
    await new Promise((resolve) => app.close(resolve));
  });

  const filler = `title=${'x'.repeat(200_000)}&`;
  const tail = `rest_route=/jwt-auth/v1/token&${CREDENTIALS}`;
  const body = filler + tail;
  const head = rawRequest('POST', '/', loginHeaders(body, FORM));
  const exchange = await rawExchange(gateway.port, head, {
    pieces: [head, filler.slice(0, 100_000), filler.slice(100_000), tail.slice(0, 5), tail.slice(5)],
    pauseMs: 50,
  });
  t.equal(exchange.statuses[0], 400, 'the routing field in the last piece gets 400');
  await waitFor(() => seen.length === 1 && seen[0].received > 0, 'the app to get the streamed part');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(seen[0].expected, Buffer.byteLength(body));
  t.ok(seen[0].received < Buffer.byteLength(body), `the app got ${seen[0].received} of ${Buffer.byteLength(body)} bytes`);
  t.equal(seen[0].complete, false, 'the app never got the whole body');

  const plain = `title=${'x'.repeat(200_000)}&r=site/about`;
  const plainHead = rawRequest('POST', '/', loginHeaders(plain, FORM));
  const passed = await rawExchange(gateway.port, plainHead, { pieces: [plainHead, plain.slice(0, 9), plain.slice(9)], pauseMs: 50 });
  t.equal(passed.statuses[0], 200, 'a form without a login route passes');
  t.same(seen[1], { expected: Buffer.byteLength(plain), received: Buffer.byteLength(plain), complete: true }, 'whole');
});

t.test('a compressed or doubly typed body on another path is refused before anything is forwarded', async (t) => {
  const { gateway, app } = await setUp(t);
  const body = gzipSync(`rest_route=/jwt-auth/v1/token&${CREDENTIALS}`);
  const headers: [string, string][] = [...loginHeaders(body, FORM), ['Content-Encoding', 'gzip']];
  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/', headers, body));
  t.equal(exchange.statuses[0], 400);
  t.match(exchange.text, /send it uncompressed/);
  t.equal(app.requests.length, 0, 'nothing reached the app');

  // Node reads the first Content-Type, and a server that keeps the last would read a form.
  const form = `rest_route=/jwt-auth/v1/token&${CREDENTIALS}`;
  const twoTypes: [string, string][] = [...loginHeaders(form, 'text/plain'), ['Content-Type', FORM]];
  const ambiguous = await rawExchange(gateway.port, rawRequest('POST', '/', twoTypes, form));
  t.equal(ambiguous.statuses[0], 400, 'two Content-Type headers on a body get 400');
  t.match(ambiguous.text, /2 Content-Type headers/);
  t.equal(app.requests.length, 0, 'nothing reached the app');

  const json = gzipSync('{"title":"x"}');
  const passed = await rawExchange(gateway.port, rawRequest('POST', '/api', [...loginHeaders(json), ['Content-Encoding', 'gzip']], json));
  t.equal(passed.statuses[0], 200, 'a compressed body that is no form passes');
});

t.test('a body of many routing fields is refused in bounded time, and the gateway keeps serving', async (t) => {
  const { gateway, app } = await setUp(t);
  // Each field is read as a path, so their number is capped.
  const bodies = ['r&'.repeat(130_000), Array.from({ length: 200 }, (_, index) => `r=site/page${index}`).join('&')];
  for (const body of bodies) {
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/', loginHeaders(body, FORM), body), { idleMs: 5000 });
    t.equal(exchange.statuses[0], 400, `${body.slice(0, 20)}: 400`);
    t.match(exchange.text, /the form body has more than (100000 fields|20 distinct rest_route or r fields)/);
  }
  // Names that cannot read as a routing name do not count toward that cap.
  const rows = Array.from({ length: 20_000 }, (_, index) => `rows[${index}][r]=1&rest${index}=2`).join('&');
  const table = await rawExchange(gateway.port, rawRequest('POST', '/', loginHeaders(rows, FORM), rows), { idleMs: 5000 });
  t.equal(table.statuses[0], 200, '40,000 distinct names that read as no routing name pass');
  const again = `r&`.repeat(500);
  const passed = await rawExchange(gateway.port, rawRequest('POST', '/', loginHeaders(again, FORM), again));
  t.equal(passed.statuses[0], 200, 'a repeated routing field counts once and passes');
  t.equal(app.requests.length, 2, 'only those two bodies reached the app whole');
  t.equal(gateway.logs.lines.filter((line) => line.message === 'riskgate crashed').length, 0, 'nothing crashed');
});

t.test('a multipart boundary too long to scan cheaply is refused', async (t) => {
  const { gateway, app } = await setUp(t);
  const boundary = 'b'.repeat(201);
  const body = multipart(boundary, [['name="title"', 'hello']]);

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/upload', loginHeaders(body, `multipart/form-data; boundary=${boundary}`), body));

  t.equal(exchange.statuses[0], 400);
  t.match(exchange.text, /the multipart boundary has 201 characters, more than riskgate reads \(200/);
  t.equal(app.requests.length, 0, 'nothing reached the app');
  const seventy = 'b'.repeat(70);
  const allowed = multipart(seventy, [['name="title"', 'hello']]);
  const passed = await rawExchange(gateway.port, rawRequest('POST', '/upload', loginHeaders(allowed, `multipart/form-data; boundary=${seventy}`), allowed));
  t.equal(passed.statuses[0], 200, 'a 70-character boundary passes');
});

t.test('a routing field too long to read in bounded memory is refused', async (t) => {
  const { gateway, app } = await setUp(t);
  const body = `rest_route=/wp/v2/${'a'.repeat(70_000)}`;
  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/', loginHeaders(body, FORM), body));
  t.equal(exchange.statuses[0], 400);
  t.match(exchange.text, /rest_route is over 1024 bytes/);
  t.equal(app.requests.length, 0, 'the app got no whole request');
});

t.test('costly bodies and queries are refused without stalling the gateway', async (t) => {
  const { gateway, app } = await setUp(t);
  const multipartType = 'multipart/form-data; boundary=zz';
  const cases: [string, string, Buffer, RegExp][] = [
    // NFKC turns U+FDFA into 18 characters, and each value is folded as several paths.
    ['/upload', FORM, Buffer.from(Array.from({ length: 19 }, (_, index) => `r=${index}/${'%EF%B7%BA'.repeat(100)}`).join('&')),
      /the r value has \d+ characters and NFKC expands them to \d+/],
    ['/upload', FORM, Buffer.from(`rest_route=/${'a'.repeat(600)}`), /the rest_route value has 601 characters, more than riskgate reads as a route \(512\)/],
    ['/upload', multipartType, Buffer.from('\n--zz\n\n'.repeat(400_000)), /the multipart body has more than 10000 parts/],
    ['/upload', multipartType, Buffer.from('x\n'.repeat(1_000_000)), /the multipart body has more than 100000 lines outside its part data/],
    // Each distinct name that may read as a routing name is read under every parser's
    // rules, so their number in one body is capped, across the body's readings.
    ['/upload', FORM, Buffer.from(Array.from({ length: 12_000 }, (_, index) => `r[${index}]=`).join('&')),
      /the form body has more than 10000 field names that may read as rest_route or r/],
    ['/upload', multipartType, Buffer.from(Array.from({ length: 1000 }, (_, part) => `--zz\r\nContent-Disposition: form-data; ${
      Array.from({ length: 12 }, (_, index) => `name="rest.route.${part}.${index}"`).join('; ')}\r\n\r\nv\r\n`).join('')),
    /the form body has more than 10000 field names that may read as rest_route or r/],
    // Every name parameter of a part is read, so their number is capped.
    ['/upload', multipartType, Buffer.from(`--zz\r\nContent-Disposition: form-data; ${'name="x"; '.repeat(1600)}\r\n\r\nv\r\n`.repeat(500)),
      /more than 16 (name )?parameters/],
  ];
  // Twelve routing parameters under names PHP reads, each 500 characters, read as paths with and without the bases.
  const costlyQuery = `/a/b/c/d/e/f/index.php/x/y/z?${['q', 's', 'r', 'route', '_route_', 'rest_route', '_url', '%20q', 'q%00', 'rest.route', '%20s', '%20r']
    .map((name) => `${name}=${Array(250).fill('a').join('/')}`).join('&')}`;
  cases.push([costlyQuery, FORM, Buffer.from(CREDENTIALS), /more than riskgate reads for one request \(16384\)/]);

  for (const [target, type, body, reason] of cases) {
    const started = performance.now();
    let slowest = 0;
    // The admin listener shares the event loop, so its latency shows a stall.
    const probe = setInterval(() => {
      const sent = performance.now();
      void fetch(`http://127.0.0.1:${gateway.adminPort}/healthz`).then(() => { slowest = Math.max(slowest, performance.now() - sent); }, () => {});
    }, 20);
    const exchange = await rawExchange(gateway.port, rawRequest('POST', target, loginHeaders(body, type), body), { idleMs: 10_000 });
    clearInterval(probe);
    const label = `${type.slice(0, 20)} ${body.subarray(0, 24).toString()}`;
    t.equal(exchange.statuses[0], 400, `${label}: 400`);
    t.match(exchange.text, reason, `${label}: the problem names the limit`);
    t.comment(`${label}: answered in ${(performance.now() - started).toFixed(0)} ms, slowest health check ${slowest.toFixed(0)} ms`);
  }

  // A query of many routing parameters, each read as several paths, is unreadable, and a
  // body sent with it is refused as on any unreadable path.
  const query = Array.from({ length: 21 }, (_, index) => `r=site/page${index}`).join('&');
  const flooded = await rawExchange(gateway.port, rawRequest('POST', `/?${query}`, loginHeaders(CREDENTIALS, FORM), CREDENTIALS));
  t.equal(flooded.statuses[0], 400, 'a query of 21 routing parameters gets 400');
  t.match(flooded.text, /more than 20 routing parameters/);
  t.equal(app.requests.length, 0, 'none reached the app whole');
});

import net, { type AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

import t, { type Test } from 'tap';

import { BROWSER_HEADERS, login, send, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { loginHeaders, rawExchange, rawRequest, sha256 } from './raw.js';

let upstream: RecordingUpstream;
let gateway: TestGateway;
let lastSource = 1;

/** A loopback source address of its own for each test, so no test's counters reach another's. */
function nextSource(): string {
  lastSource += 1;
  return `127.0.0.${lastSource}`;
}

t.before(async () => {
  upstream = await new RecordingUpstream().start();
  gateway = await startTestGateway({ upstream: upstream.url });
});

t.teardown(async () => {
  await gateway.close();
  await upstream.stop();
});

t.beforeEach(() => {
  upstream.requests.length = 0;
  gateway.logs.lines.length = 0;
});

/** Send one login body and check the upstream got the same bytes with its own framing. */
async function checkReplay(t: Test, body: Buffer, contentType: string, expectedUsername?: string) {
  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(body, contentType), body), {
    source: nextSource(),
  });

  t.equal(exchange.statuses[0], 401, 'the app answered the login');
  t.equal(upstream.logins.length, 1, 'one login reached the app');
  const received = upstream.logins[0];
  t.equal(received.sha256, sha256(body), 'the app received the exact bytes');
  t.equal(received.headers['content-length'], String(body.length), 'Content-Length matches the body');
  t.equal(received.headers['transfer-encoding'], undefined, 'no Transfer-Encoding is added');
  t.equal(received.username, expectedUsername, 'the app reads the same username');
  t.ok(received.receivedAt - exchange.lastByteAt < 1000, 'the app has the body within a second of the last byte');
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.http.request.id, received.headers['x-request-id'], 'the forwarded login has a decision line');
}

t.test('empty JSON object is forwarded as sent', async (t) => {
  await checkReplay(t, Buffer.from('{}'), 'application/json');
});

t.test('JSON with escapes and large numbers is forwarded as sent', async (t) => {
  const body = Buffer.from(
    '{"username":"al\\u0069ce","password":"p\\"w\\\\d\\n\\u00e9","n":123456789012345678901234567890,"f":1.0,"e":1e400}',
  );
  await checkReplay(t, body, 'application/json', 'alice');
});

t.test('form body with plus, percent-encoding and UTF-8 is forwarded as sent', async (t) => {
  const body = Buffer.from('username=bob+b%2Bc%C3%A9&password=a+b%2Bc&note=caf\u00e9 \u4e2d', 'utf8');
  await checkReplay(t, body, 'application/x-www-form-urlencoded', 'bob b+c\u00e9');
});

t.test('body with a UTF-8 BOM is forwarded as sent', async (t) => {
  const body = Buffer.from('\uFEFF{"username":"carol","password":"x"}', 'utf8');
  await checkReplay(t, body, 'application/json; charset=utf-8', 'carol');
});

t.test('body with a trailing newline is forwarded as sent', async (t) => {
  await checkReplay(t, Buffer.from('{"username":"dave","password":"x"}\r\n\n'), 'application/json', 'dave');
});

t.test('chunked body in five pieces is re-framed and sent promptly', async (t) => {
  const body = '{"username":"erin","password":"not-her-password","padding":"0123456789"}';
  const parts = [body.slice(0, 5), body.slice(5, 20), body.slice(20, 40), body.slice(40, 60), body.slice(60)];
  const head = [
    'POST /login HTTP/1.1',
    'Host: riskgate.test',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'Accept: application/json',
    'Accept-Language: en-GB',
    'Content-Type: application/json',
    'Transfer-Encoding: chunked',
  ].join('\r\n');
  const pieces = parts.map((part, index) => {
    const chunk = `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`;
    const prefix = index === 0 ? `${head}\r\n\r\n` : '';
    const suffix = index === parts.length - 1 ? '0\r\n\r\n' : '';
    return prefix + chunk + suffix;
  });

  const exchange = await rawExchange(gateway.port, '', { pieces, pauseMs: 80, source: nextSource() });

  t.equal(exchange.statuses[0], 401);
  t.equal(upstream.logins.length, 1);
  const received = upstream.logins[0];
  t.equal(received.sha256, sha256(body), 'the app received the de-chunked bytes');
  t.equal(received.headers['content-length'], String(Buffer.byteLength(body)), 're-framed with Content-Length');
  t.equal(received.headers['transfer-encoding'], undefined, 'no chunked framing reaches the app');
  t.equal(received.username, 'erin');
  t.ok(received.receivedAt - exchange.lastByteAt < 1000, 'the app has the body within a second of the last byte');
});

t.test('gzip login body is judged by its inflated content', async (t) => {
  const plain = '{"username":"Frank","password":"x"}';
  const body = gzipSync(plain);
  const headers = [...loginHeaders(body), ['Content-Encoding', 'gzip'] as [string, string]];

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });

  t.equal(exchange.statuses[0], 401);
  t.equal(upstream.logins.length, 1);
  t.equal(upstream.logins[0].sha256, sha256(plain), 'the app receives the inflated bytes riskgate judged');
  t.equal(upstream.logins[0].headers['content-encoding'], undefined, 'without the Content-Encoding');
  t.equal(upstream.logins[0].headers['content-length'], String(Buffer.byteLength(plain)));
  t.equal(upstream.logins[0].username, 'Frank');
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.riskgate.signals.user.length, 5, 'riskgate read the username inside the gzip body');
  t.equal(decision.riskgate.signals.user.present, true);
});

t.test('data hidden beside a compressed body never reaches the app', async (t) => {
  // An app that does not decode request bodies parses the raw bytes, where a second form
  // after the stream or in the gzip comment field names another account.
  const decoy = 'username=decoy&password=x';
  const hidden = '&username=erin&password=guess&';
  const commented = gzipSync(decoy);
  const withComment = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 0x08, 0x10]), commented.subarray(4, 10), Buffer.from(`${hidden}\0`), commented.subarray(10),
  ]);
  const bodies: [string, string, Buffer][] = [
    ['deflate with data after the stream', 'deflate', Buffer.concat([deflateSync(decoy), Buffer.from(hidden)])],
    ['br with data after the stream', 'br', Buffer.concat([brotliCompressSync(decoy), Buffer.from(hidden)])],
    ['gzip with the form in its comment field', 'gzip', withComment],
  ];

  for (const [name, coding, body] of bodies) {
    const before = upstream.logins.length;
    const headers = [...loginHeaders(body, 'application/x-www-form-urlencoded'), ['Content-Encoding', coding] as [string, string]];
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });
    const received = upstream.logins[before];

    t.equal(exchange.statuses[0], 401, `${name}: judged and forwarded`);
    t.equal(received?.sha256, sha256(decoy), `${name}: the app receives only the decoded form`);
    t.equal(received?.username, 'decoy', `${name}: the app reads the account riskgate judged`);
  }
});

t.test('gzip bomb gets 413 and nothing is forwarded', async (t) => {
  const inflated = Buffer.concat([Buffer.from('{"username":"grace","password":"x","pad":"'), Buffer.alloc(8 << 20, 0x61), Buffer.from('"}')]);
  const body = gzipSync(inflated);
  t.ok(body.length < 65_536, 'the compressed body is under the limit');
  const headers = [...loginHeaders(body), ['Content-Encoding', 'gzip'] as [string, string]];

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });

  t.equal(exchange.statuses[0], 413);
  t.equal(upstream.requests.length, 0);
});

t.test('1 MiB body with Content-Length gets 413 and nothing is forwarded', async (t) => {
  const body = Buffer.alloc(1 << 20, 0x61);
  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(body), body));

  t.equal(exchange.statuses[0], 413);
  t.equal(exchange.closedByServer, true, 'the connection is closed after the 413');
  t.equal(upstream.requests.length, 0);
});

t.test('1 MiB chunked body gets 413 and nothing is forwarded', async (t) => {
  const chunk = 'a'.repeat(16_384);
  const head = 'POST /login HTTP/1.1\r\nHost: riskgate.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  const chunks = Array.from({ length: 64 }, () => `4000\r\n${chunk}\r\n`).join('');

  const exchange = await rawExchange(gateway.port, `${head}${chunks}0\r\n\r\n`);

  t.equal(exchange.statuses[0], 413);
  await waitFor(() => gateway.logs.lines.some((line) => line.riskgate?.rejection), 'the rejection line');
  t.equal(upstream.requests.length, 0);
});

t.test('a body with more than two content codings is refused', async (t) => {
  const plain = '{"username":"heidi","password":"x"}';
  const body = gzipSync(gzipSync(gzipSync(plain)));
  const headers = [...loginHeaders(body), ['Content-Encoding', 'gzip, gzip, gzip'] as [string, string]];

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: nextSource() });

  t.equal(exchange.statuses[0], 415);
  t.match(exchange.text, /3 content codings; send at most 2/);
  t.equal(upstream.requests.length, 0);
});

t.test('JSON in UTF-16 or UTF-32 sent as a form is refused', async (t) => {
  // Python's json.loads detects these encodings, so Flask's get_json(force=True) reads bob here.
  const json = '{"username":"bob","password":"x"}';
  const utf32 = Buffer.alloc(json.length * 4);
  for (let index = 0; index < json.length; index += 1) utf32.writeUInt32LE(json.charCodeAt(index), index * 4);
  const bodies: [string, Buffer][] = [
    ['UTF-16LE', Buffer.from(json, 'utf16le')],
    ['UTF-16BE', Buffer.from(json, 'utf16le').swap16()],
    ['UTF-32LE', utf32],
  ];

  for (const [name, body] of bodies) {
    const exchange = await rawExchange(gateway.port,
      rawRequest('POST', '/login', loginHeaders(body, 'application/x-www-form-urlencoded'), body), { source: nextSource() });
    t.equal(exchange.statuses[0], 400, `${name}: 400`);
    t.match(exchange.text, /NUL byte/, `${name}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('a login body the app leaves unread never reaches it as a request', async (t) => {
  // Like Python's http.server with keep-alive: the app responds to a form login with 415 before
  // reading the body, then parses what follows on the connection as the next request, unless
  // the request asked to close it.
  const seen: { line: string; connection: number }[] = [];
  let connections = 0;
  const app = net.createServer((socket) => {
    const connection = (connections += 1);
    let buffered = '';
    let closing = false;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end = buffered.indexOf('\r\n\r\n');
      while (end !== -1 && !closing) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const line = head.split('\r\n')[0];
        seen.push({ line, connection });
        const json = /content-type: application\/json/i.test(head);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (json) buffered = buffered.slice(length);
        const body = json ? '{"ok":true}' : 'send JSON';
        socket.write(`HTTP/1.1 ${json ? 200 : 415} X\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        closing = /connection: *close/i.test(head);
        if (closing) socket.end();
        end = buffered.indexOf('\r\n\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
  t.teardown(async () => {
    await gateway.close();
    await new Promise((resolve) => app.close(resolve));
  });

  const hidden = await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'POST /login?username=bob&password=guess HTTP/1.1\r\n\r\n',
  });
  const next = await login(gateway.port, 'alice', 'wonderland');

  t.equal(hidden.status, 415, "the app's refusal comes back");
  t.equal(next.status, 200, 'the next login gets its own answer');
  t.same(seen.map((entry) => entry.line), ['POST /login HTTP/1.1', 'POST /login HTTP/1.1'], 'the app parsed no request from the body');
  t.not(seen[0].connection, seen[1].connection, 'each login has a connection of its own');
});

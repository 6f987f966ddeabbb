import { gzipSync } from 'node:zlib';

import fc from 'fast-check';
import t from 'tap';

import { login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { rawExchange } from './raw.js';

const MARKER = 'FUZZ-PASSWORD-MARKER-7f3a';

const methods = fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD');
const paths = fc.oneof(
  fc.constantFrom('/login', '/LOGIN', '/login/', '/%6cogin', '//login', '/login;x', '/./login', '/api/../login',
    '/login?next=/', '/login%2f', '/Login//', '/login%00', '/login%', '/account', '/', '/login/extra', '*',
    '/x/..;/login', '/login/;x', '/login.json', '/Login.JSON/', '/login.', '/.login'),
  fc.stringMatching(/^\/[a-zA-Z0-9%._;~\/-]{0,12}$/),
);
const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1',
  'application/x-www-form-urlencoded', 'application/vnd.api+json', 'text/plain', 'multipart/form-data; boundary=x', '',
);
const bodies = fc.oneof(
  fc.record({ username: fc.string({ maxLength: 20 }), password: fc.constant(MARKER) }).map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 20 }).map((name) => `username=${encodeURIComponent(name)}&password=${MARKER}`),
  fc.constantFrom(
    `{"username":"a","username":"b","password":"${MARKER}"}`,
    `{"username":"a","password":"${MARKER}"`,
    `username=a;username=b&password=${MARKER}`,
    `{"username":["a"],"password":"${MARKER}"}`,
    '',
  ),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1') + MARKER),
);
const framings = fc.constantFrom('length', 'length', 'chunked', 'both', 'none', 'short', 'double');
const extras = fc.array(
  fc.constantFrom<[string, string]>(
    ['Content-Encoding', 'gzip'], ['Content-Encoding', 'br'], ['Content-Encoding', 'identity'], ['Content-Encoding', 'compress'],
    ['Connection', 'close'], ['Connection', 'content-type'], ['Expect', '100-continue'], ['X-Forwarded-For', '203.0.113.9'],
    ['User-Agent', 'curl/8.0'], ['User-Agent', `Mozilla/5.0 (${'; '.repeat(300)}`], ['Cookie', `session=${MARKER}`],
    ['Authorization', `Basic ${Buffer.from(`a:${MARKER}`).toString('base64')}`], ['Riskgate-Step-Up', `${MARKER}.a.b`],
    ['Content-Type', 'application/json'], ['Transfer-Encoding', 'gzip, chunked'], ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'], ['Host', 'second.test'], ['X_Forwarded_For', '203.0.113.10'],
  ),
  { maxLength: 4 },
);

type Generated = [string, string, string, string, string, [string, string][]];

// Half the runs are logins a client library would send, mutated a little, so that enough
// of them reach the app; the other half are anything at all.
const wellFormed: fc.Arbitrary<Generated> = fc.tuple(
  fc.constantFrom('/login', '/LOGIN', '/login/', '/%6cogin', '//login', '/login;x', '/./login', '/api/../login', '/Login?next=/'),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('length', 'length', 'chunked'),
  fc.array(fc.constantFrom<[string, string]>(['Content-Encoding', 'gzip'], ['X-Forwarded-For', '203.0.113.9'],
    ['User-Agent', 'curl/8.0'], ['Cookie', `session=${MARKER}`], ['Expect', '100-continue']), { maxLength: 2 }),
).map(([path, json, username, framing, headers]) => [
  'POST',
  path,
  json ? 'application/json' : 'application/x-www-form-urlencoded',
  json ? JSON.stringify({ username, password: MARKER }) : `username=${encodeURIComponent(username)}&password=${MARKER}`,
  framing,
  headers,
]);
const anything: fc.Arbitrary<Generated> = fc.tuple(methods, paths, contentTypes, bodies, framings, extras);

/**
 * Whether some framework could route `target` to /login: percent-decoded until stable, case
 * folded, matrix parameters and empty or dot segments dropped, and a format suffix such as
 * `.json` ignored. An oracle of its own, kept apart from riskgate's path reading on purpose.
 */
function lenientLoginPath(target: string): boolean {
  let path = target.split('?')[0];
  for (let round = 0; round < 3; round += 1) {
    try {
      path = decodeURIComponent(path);
    } catch {
      break;
    }
  }
  const segments: string[] = [];
  for (const segment of path.toLowerCase().split('/')) {
    const name = segment.split(';')[0];
    if (name === '' || name === '.') continue;
    if (name === '..') segments.pop();
    else segments.push(name);
  }
  return /^login(\..*)?$/.test(segments.join('/'));
}

/** Serialise one generated request, with framing that may be deliberately wrong. */
function build(method: string, path: string, contentType: string, body: string, framing: string, headers: [string, string][]): Buffer {
  const gzip = headers.some(([name, value]) => name === 'Content-Encoding' && value === 'gzip');
  const payload = gzip ? gzipSync(Buffer.from(body, 'latin1')) : Buffer.from(body, 'latin1');
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: riskgate.test', 'Accept: */*', 'Accept-Language: en'];
  if (contentType) lines.push(`Content-Type: ${contentType}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);

  let framed = payload;
  if (framing === 'length' || framing === 'both' || framing === 'double') lines.push(`Content-Length: ${payload.length}`);
  if (framing === 'double') lines.push(`Content-Length: ${payload.length + 1}`);
  if (framing === 'short') lines.push(`Content-Length: ${Math.max(0, payload.length - 3)}`);
  if (framing === 'chunked' || framing === 'both') {
    lines.push('Transfer-Encoding: chunked');
    framed = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), framed]);
}

t.test('random login requests never bypass judgement or leak the password', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, logLevel: 'debug' });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  let runs = 0;
  const serverErrors: string[] = [];
  await fc.assert(
    fc.asyncProperty(fc.oneof(wellFormed, anything), async ([method, path, type, body, framing, headers]) => {
      runs += 1;
      const request = build(method, path, type, body, framing, headers);
      const source = `127.0.${(runs >> 8) & 255}.${(runs & 255) || 1}`;
      const exchange = await rawExchange(gateway.port, request, { source, idleMs: 250, closeWaitMs: 0 });
      if (exchange.statuses.some((status) => status === 500)) serverErrors.push(request.toString('latin1').slice(0, 200));
    }),
    { numRuns: 200, seed: 20_240_601, endOnFailure: true },
  );

  t.equal(runs, 200, 'every generated request was sent');
  t.same(serverErrors, [], 'no request made the gateway fail with 500');
  const final = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.3.1' });
  t.equal(final.status, 200, 'the gateway still serves logins afterwards');

  // Any method counts: an app may take a login by any method on its path.
  const logins = upstream.requests.filter((received) => received.body.length > 0 && lenientLoginPath(received.url));
  t.ok(logins.length > 10, `the fuzzer got logins through to the app (${logins.length})`);
  const judged = (id: unknown) => gateway.logs.decisions.some((line) => line.http.request.id === id);
  await waitFor(() => logins.every((received) => judged(received.headers['x-request-id'])), 'decision lines').catch(() => undefined);
  const unjudged = logins.filter((received) => !judged(received.headers['x-request-id']));
  t.same(unjudged.map((received) => `${received.method} ${received.url}`), [], 'every login the app received was judged');
  t.notOk(gateway.logs.text.includes(MARKER), 'the password marker is never logged');
});

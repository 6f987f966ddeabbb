import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';

import { generateKeyPair, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { authenticator } from 'otplib';
import { pino } from 'pino';
import t from 'tap';
import type { Test } from 'tap';

import { createDemoApp, DEMO_USERS, MAX_BODY_BYTES, STEP_UP_HEADER } from '../../src/demo/app.js';
import type { DemoAppOptions } from '../../src/demo/app.js';

const ISSUER = 'riskgate-demo-app';
const AUDIENCE = 'riskgate';
const TTL_SECONDS = 120;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const keys = await generateKeyPair('ES256');
const alice = DEMO_USERS.find((user) => user.username === 'alice')!;

interface DemoServer {
  base: string;
  logs: string[];
}

type Tap = Test;

async function listen(t: Tap, listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });

  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

function demoOptions(logs: string[]): DemoAppOptions {
  return {
    users: [...DEMO_USERS],
    stepUp: {
      privateKey: keys.privateKey,
      algorithm: 'ES256',
      issuer: ISSUER,
      audience: AUDIENCE,
      ttlSeconds: TTL_SECONDS,
    },
    // Without time, pid and hostname, a 6-digit code cannot appear in a log line by chance.
    logger: pino(
      { level: 'debug', base: null, timestamp: false },
      { write: (line: string) => logs.push(line) },
    ),
  };
}

async function startDemo(t: Tap): Promise<DemoServer> {
  const logs: string[] = [];
  const base = await listen(t, createDemoApp(demoOptions(logs)));

  return { base, logs };
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function postForm(url: string, fields: Record<string, string>) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

function currentCode(secret: string): string {
  return authenticator.generate(secret);
}

/** Returns a 6-digit code that is not valid for the secret within two steps of now. */
function wrongCode(secret: string): string {
  const now = Date.now();
  const nearbyCodes = new Set<string>();
  for (let step = -2; step <= 2; step++) {
    nearbyCodes.add(authenticator.clone({ epoch: now + step * 30_000 }).generate(secret));
  }

  const candidates = ['000000', '111111', '222222', '333333', '444444', '555555'];
  return candidates.find((candidate) => !nearbyCodes.has(candidate))!;
}

async function verifyAssertion(assertion: string) {
  return jwtVerify(assertion, keys.publicKey, { issuer: ISSUER, audience: AUDIENCE });
}

function inlineScript(html: string): string {
  const match = /<script>([\s\S]*?)<\/script>/.exec(html);
  if (match === null) {
    throw new Error('no inline script in the page');
  }
  return match[1];
}

t.test('login with JSON credentials', async (t) => {
  const { base } = await startDemo(t);

  const good = await postJson(`${base}/login`, { username: 'alice', password: 'wonderland' });
  t.equal(good.status, 200);
  t.match(good.headers.get('content-type'), /^application\/json/);
  t.same(await good.json(), { ok: true, user: 'alice' });

  const wrong = await postJson(`${base}/login`, { username: 'alice', password: 'Wonderland' });
  t.equal(wrong.status, 401);
  t.same(await wrong.json(), { ok: false, error: 'invalid username or password' });

  const otherUsersPassword = await postJson(`${base}/login`, {
    username: 'alice',
    password: 'builder',
  });
  t.equal(otherUsersPassword.status, 401);

  const unknown = await postJson(`${base}/login`, { username: 'mallory', password: 'wonderland' });
  t.equal(unknown.status, 401);
  t.same(await unknown.json(), { ok: false, error: 'invalid username or password' });
});

t.test('login normalizes username', async (t) => {
  const { base } = await startDemo(t);

  const credentials = { username: '  ALICE ', password: 'wonderland' };
  const response = await postJson(`${base}/login`, credentials);
  t.equal(response.status, 200);
  t.same(await response.json(), { ok: true, user: 'alice' });
});

t.test('login with form credentials', async (t) => {
  const { base } = await startDemo(t);

  const good = await postForm(`${base}/login`, { username: 'bob', password: 'builder' });
  t.equal(good.status, 200);
  t.same(await good.json(), { ok: true, user: 'bob' });

  const wrong = await postForm(`${base}/login`, { username: 'bob', password: 'wonderland' });
  t.equal(wrong.status, 401);
  t.same(await wrong.json(), { ok: false, error: 'invalid username or password' });
});

t.test('login rejects unparsable bodies', async (t) => {
  const { base } = await startDemo(t);

  const malformed = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"username":"alice",',
  });
  t.equal(malformed.status, 400);
  t.same(await malformed.json(), { ok: false, error: 'invalid JSON body' });

  const array = await postJson(`${base}/login`, ['alice', 'wonderland']);
  t.equal(array.status, 400);
  t.same(await array.json(), { ok: false, error: 'invalid JSON body: expected an object' });

  const missing = await postJson(`${base}/login`, { username: 'alice' });
  t.equal(missing.status, 400);
  t.same(await missing.json(), { ok: false, error: 'missing or non-string field "password"' });

  const number = await postJson(`${base}/login`, { username: 'alice', password: 12345 });
  t.equal(number.status, 400);

  const notUtf8 = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: Buffer.from([0x75, 0x3d, 0xff, 0xfe]),
  });
  t.equal(notUtf8.status, 400);
  t.same(await notUtf8.json(), { ok: false, error: 'invalid body: not UTF-8' });
});

t.test('login rejects other content types', async (t) => {
  const { base } = await startDemo(t);

  const text = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'username=alice&password=wonderland',
  });
  t.equal(text.status, 415);
  const textBody = (await text.json()) as { ok: boolean; error: string };
  t.equal(textBody.ok, false);
  t.match(textBody.error, /^unsupported content type "text\/plain"/);

  const untyped = await fetch(`${base}/login`, {
    method: 'POST',
    body: new Uint8Array([0x7b, 0x7d]),
  });
  t.equal(untyped.status, 415);
});

t.test('login body size limit', async (t) => {
  const { base } = await startDemo(t);
  const prefix = '{"username":"alice","password":"wonderland"}';

  const atLimit = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: prefix + ' '.repeat(MAX_BODY_BYTES - prefix.length),
  });
  t.equal(atLimit.status, 200, 'a body of exactly the limit is accepted');

  const overLimit = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: prefix + ' '.repeat(MAX_BODY_BYTES - prefix.length + 1),
  });
  t.equal(overLimit.status, 413);
  t.same(await overLimit.json(), {
    ok: false,
    error: `request body exceeds ${MAX_BODY_BYTES} bytes`,
  });

  const chunk = new Uint8Array(16 * 1024).fill(0x20);
  let chunksLeft = 5;
  const chunked = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new ReadableStream({
      pull(controller) {
        if (chunksLeft-- > 0) {
          controller.enqueue(chunk);
        } else {
          controller.close();
        }
      },
    }),
    duplex: 'half',
  } as RequestInit);
  t.equal(chunked.status, 413, 'a chunked body without Content-Length is also limited');
});

t.test('mfa with correct code issues assertion', async (t) => {
  const { base } = await startDemo(t);

  const response = await postJson(`${base}/mfa`, {
    challenge: 'chal-123',
    username: 'Alice',
    code: currentCode(alice.totpSecret),
  });
  t.equal(response.status, 200);
  t.equal(response.headers.get('cache-control'), 'no-store');

  const body = (await response.json()) as { assertion: string; header: string; expires_in: number };
  t.equal(body.header, 'Riskgate-Step-Up');
  t.equal(body.expires_in, TTL_SECONDS);

  const { payload, protectedHeader } = await verifyAssertion(body.assertion);
  t.equal(protectedHeader.alg, 'ES256');
  t.equal(payload.iss, ISSUER);
  t.equal(payload.aud, AUDIENCE);
  t.equal(payload.sub, 'alice');
  t.equal(payload.riskgate_challenge, 'chal-123');
  t.match(payload.jti, UUID_PATTERN);
  t.equal(payload.exp! - payload.iat!, TTL_SECONDS);
  t.ok(Math.abs(payload.iat! - Date.now() / 1000) < 5, 'iat is the current time');
});

t.test('mfa assertions have distinct jti', async (t) => {
  const { base } = await startDemo(t);
  const request = { challenge: 'chal-1', username: 'alice', code: currentCode(alice.totpSecret) };

  const first = (await (await postJson(`${base}/mfa`, request)).json()) as { assertion: string };
  const second = (await (await postJson(`${base}/mfa`, request)).json()) as { assertion: string };
  const firstJti = (await verifyAssertion(first.assertion)).payload.jti;
  const secondJti = (await verifyAssertion(second.assertion)).payload.jti;
  t.not(firstJti, secondJti);
});

t.test('mfa rejects wrong code', async (t) => {
  const { base } = await startDemo(t);

  const wrong = await postJson(`${base}/mfa`, {
    challenge: 'chal-123',
    username: 'alice',
    code: wrongCode(alice.totpSecret),
  });
  t.equal(wrong.status, 401);
  t.same(await wrong.json(), { ok: false, error: 'invalid username or code' });

  const bobsCode = await postJson(`${base}/mfa`, {
    challenge: 'chal-123',
    username: 'alice',
    code: currentCode(DEMO_USERS[1].totpSecret),
  });
  t.equal(bobsCode.status, 401, "another user's code is rejected");

  const unknownUser = await postJson(`${base}/mfa`, {
    challenge: 'chal-123',
    username: 'mallory',
    code: currentCode(alice.totpSecret),
  });
  t.equal(unknownUser.status, 401);

  const notDigits = await postJson(`${base}/mfa`, {
    challenge: 'chal-123',
    username: 'alice',
    code: 'abcdef',
  });
  t.equal(notDigits.status, 401);
});

t.test('mfa rejects missing fields', async (t) => {
  const { base } = await startDemo(t);

  const noChallenge = await postJson(`${base}/mfa`, { username: 'alice', code: '123456' });
  t.equal(noChallenge.status, 400);
  t.same(await noChallenge.json(), { ok: false, error: 'missing or non-string field "challenge"' });

  const emptyChallenge = await postJson(`${base}/mfa`, {
    challenge: '',
    username: 'alice',
    code: currentCode(alice.totpSecret),
  });
  t.equal(emptyChallenge.status, 400);

  const text = await fetch(`${base}/mfa`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'x',
  });
  t.equal(text.status, 415);
});

t.test('mfa form post returns HTML assertion page', async (t) => {
  const { base } = await startDemo(t);

  const response = await postForm(`${base}/mfa`, {
    challenge: 'chal-form',
    username: 'bob',
    code: currentCode(DEMO_USERS[1].totpSecret),
  });
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/html/);

  const html = await response.text();
  t.match(html, '<code>Riskgate-Step-Up</code>');
  const match = /<textarea id="assertion" readonly>([^<]+)<\/textarea>/.exec(html);
  t.ok(match, 'the page contains the assertion');

  const { payload } = await verifyAssertion(match![1]);
  t.equal(payload.sub, 'bob');
  t.equal(payload.riskgate_challenge, 'chal-form');
});

t.test('demo code endpoint returns valid code', async (t) => {
  const { base } = await startDemo(t);

  const response = await fetch(`${base}/demo/code?username=alice`);
  t.equal(response.status, 200);
  const body = (await response.json()) as { username: string; code: string };
  t.equal(body.username, 'alice');
  t.match(body.code, /^\d{6}$/);
  t.ok(authenticator.check(body.code, alice.totpSecret), 'the code verifies against the secret');

  const mfa = await postJson(`${base}/mfa`, { challenge: 'c', username: 'alice', code: body.code });
  t.equal(mfa.status, 200, 'the code is accepted by POST /mfa');

  const unknown = await fetch(`${base}/demo/code?username=mallory`);
  t.equal(unknown.status, 404);
  t.same(await unknown.json(), { ok: false, error: 'unknown demo user "mallory"' });

  const missing = await fetch(`${base}/demo/code`);
  t.equal(missing.status, 400);
});

t.test('home page contains login form', async (t) => {
  const { base } = await startDemo(t);

  const response = await fetch(`${base}/`);
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/html/);

  const html = await response.text();
  t.match(html, '<form id="login-form" method="post" action="/login">');
  t.match(html, '<input id="username" name="username"');
  t.match(html, '<input id="password" name="password" type="password"');
  t.match(html, '<form id="code-form" hidden>');
  t.match(html, '<code>alice / wonderland</code>');
  t.match(html, '/demo/code?username=NAME');

  const script = inlineScript(html);
  t.doesNotThrow(() => new vm.Script(script), 'the inline script compiles');
  const scriptHash = createHash('sha256').update(script).digest('base64');
  t.match(response.headers.get('content-security-policy'), `script-src 'sha256-${scriptHash}'`);
});

t.test('mfa page contains code form', async (t) => {
  const { base } = await startDemo(t);

  const response = await fetch(`${base}/mfa?challenge=chal-777`);
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/html/);

  const html = await response.text();
  t.match(html, '<form id="mfa-form" method="post" action="/mfa">');
  t.match(html, '<input name="challenge" value="chal-777" required>');
  t.match(html, '<input name="username"');
  t.match(html, '<input name="code" inputmode="numeric" pattern="[0-9]{6}"');
});

t.test('mfa page escapes echoed challenge', async (t) => {
  const { base } = await startDemo(t);
  const challenge = `"><script>alert('x')</script>&`;

  const response = await fetch(`${base}/mfa?challenge=${encodeURIComponent(challenge)}`);
  const html = await response.text();
  t.match(
    html,
    'value="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"',
    'the challenge is escaped inside the attribute',
  );
  t.notMatch(html, '<script>', 'the page contains no script element');
  t.notMatch(html, "alert('x')");
});

t.test('unknown routes and methods', async (t) => {
  const { base } = await startDemo(t);

  const missing = await fetch(`${base}/admin`);
  t.equal(missing.status, 404);
  t.same(await missing.json(), { ok: false, error: 'not found: /admin' });

  const getLogin = await fetch(`${base}/login`);
  t.equal(getLogin.status, 405);
  t.equal(getLogin.headers.get('allow'), 'POST');
});

t.test('createDemoApp rejects invalid options', async (t) => {
  const options = demoOptions([]);

  t.throws(
    () => createDemoApp({ ...options, stepUp: { ...options.stepUp, ttlSeconds: 0 } }),
    RangeError,
  );
  const duplicate = { username: 'ALICE', password: 'x', totpSecret: 'JBSWY3DPEHPK3PXP' };
  t.throws(
    () => createDemoApp({ ...options, users: [...DEMO_USERS, duplicate] }),
    /duplicate demo user "ALICE"/,
  );
});

t.test('logs omit passwords, codes, assertions and usernames', async (t) => {
  const { base, logs } = await startDemo(t);
  const code = currentCode(alice.totpSecret);

  await postJson(`${base}/login`, { username: 'alice', password: 'wonderland' });
  await postJson(`${base}/login`, { username: 'alice', password: 'not-the-password' });
  const mfa = await postJson(`${base}/mfa`, { challenge: 'chal-log', username: 'alice', code });
  const { assertion } = (await mfa.json()) as { assertion: string };
  await postJson(`${base}/mfa`, {
    challenge: 'chal-log',
    username: 'alice',
    code: wrongCode(alice.totpSecret),
  });

  const output = logs.join('');
  t.match(output, '"msg":"login succeeded"', 'the logger receives the log lines');
  t.match(output, '"msg":"step-up succeeded: assertion issued"');
  t.notMatch(output, 'wonderland');
  t.notMatch(output, 'not-the-password');
  t.notMatch(output, code);
  t.notMatch(output, assertion);
  t.notMatch(output, 'chal-log', 'the challenge id is not logged');
  t.notMatch(output, '"alice"', 'nor the username in clear');
});

// Starts a minimal stand-in for the gateway. It responds to the first login with a step-up
// challenge, accepts the repeated login only with a valid assertion for that challenge and
// forwards all other requests to the app.
async function startFakeGateway(t: Tap, appBase: string, verified: JWTPayload[]): Promise<string> {
  const challengeId = 'chal-from-gateway';

  return listen(t, (request, response) => {
    void (async () => {
      const body = await readAll(request);
      const assertion = request.headers[STEP_UP_HEADER.toLowerCase()];

      if (request.url === '/login' && typeof assertion !== 'string') {
        response.writeHead(401, { 'content-type': 'application/problem+json' });
        response.end(
          JSON.stringify({
            type: 'https://riskgate.invalid/problems/step-up-required',
            title: 'step-up required',
            status: 401,
            challenge: {
              id: challengeId,
              methods: ['totp'],
              mfa_url: `/mfa?challenge=${challengeId}`,
            },
          }),
        );
        return;
      }

      if (request.url === '/login') {
        const { payload } = await verifyAssertion(assertion as string);
        if (payload.riskgate_challenge !== challengeId) {
          throw new Error(`unexpected challenge ${String(payload.riskgate_challenge)}`);
        }
        verified.push(payload);
      }

      const hasBody = request.method !== 'GET';
      const upstream = await fetch(new URL(request.url!, appBase), {
        method: request.method,
        headers: hasBody ? { 'content-type': request.headers['content-type']! } : {},
        body: hasBody ? new Uint8Array(body) : undefined,
      });
      response.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream',
      });
      response.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((error: Error) => {
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: `fake gateway: ${error.message}` }));
    });
  });
}

async function readAll(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface FakeElement {
  value: string;
  textContent: string;
  hidden: boolean;
  listeners: Map<string, (event: unknown) => unknown>;
  addEventListener(type: string, listener: (event: unknown) => unknown): void;
}

function fakeElement(hidden = false): FakeElement {
  return {
    value: '',
    textContent: '',
    hidden,
    listeners: new Map(),
    addEventListener(type, listener) {
      this.listeners.set(type, listener);
    },
  };
}

/** Runs the home page's inline script against fake DOM elements and a fetch bound to `base`. */
async function loadHomePage(base: string): Promise<Record<string, FakeElement>> {
  const html = await (await fetch(`${base}/`)).text();
  const elements: Record<string, FakeElement> = {
    'login-form': fakeElement(),
    'code-form': fakeElement(true),
    username: fakeElement(),
    password: fakeElement(),
    code: fakeElement(),
    'demo-code': fakeElement(),
    result: fakeElement(),
  };

  const context = vm.createContext({
    document: { getElementById: (id: string) => elements[id] },
    fetch: (path: string, init?: RequestInit) => fetch(new URL(path, base), init),
  });
  vm.runInContext(inlineScript(html), context);

  return elements;
}

async function fire(element: FakeElement, type: string): Promise<void> {
  await element.listeners.get(type)!({ preventDefault() {} });
}

t.test('home page script logs in directly', async (t) => {
  const { base } = await startDemo(t);
  const page = await loadHomePage(base);

  page.username.value = 'alice';
  page.password.value = 'wrong';
  await fire(page['login-form'], 'submit');
  t.equal(page.result.textContent, 'Login failed. HTTP 401: invalid username or password');

  page.password.value = 'wonderland';
  await fire(page['login-form'], 'submit');
  t.equal(page.result.textContent, 'Logged in as alice.');
  t.equal(page['code-form'].hidden, true);
});

t.test('home page script completes step-up', async (t) => {
  const { base: appBase } = await startDemo(t);
  const verified: JWTPayload[] = [];
  const gatewayBase = await startFakeGateway(t, appBase, verified);
  const page = await loadHomePage(gatewayBase);

  page.username.value = 'alice';
  page.password.value = 'wonderland';
  await fire(page['login-form'], 'submit');
  t.equal(page['code-form'].hidden, false, 'the code form is shown');
  t.match(page.result.textContent, /^Step-up required/);

  page.code.value = wrongCode(alice.totpSecret);
  await fire(page['code-form'], 'submit');
  t.equal(page.result.textContent, 'Code rejected. HTTP 401: invalid username or code');

  await fire(page['demo-code'], 'click');
  t.match(page.code.value, /^\d{6}$/, 'the demo code button fills in a code');
  await fire(page['code-form'], 'submit');
  t.equal(page.result.textContent, 'Logged in as alice after step-up.');
  t.equal(page['code-form'].hidden, true);

  t.equal(verified.length, 1, 'the gateway received one assertion');
  t.equal(verified[0].sub, 'alice');
});

import net from 'node:net';

import t, { type Test } from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { BROWSER_HEADERS, login, send, startTestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';

type Tap = Test;

async function setup(t: Tap, options: Partial<TestGatewayOptions> = {}, users?: Record<string, string>) {
  const upstream = await new RecordingUpstream(users).start();
  const gateway = await startTestGateway({ upstream: upstream.url, clock: new FakeClock().read, ...options });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

t.test('decision line has the ECS fields', async (t) => {
  const { upstream, gateway } = await setup(t);

  await login(gateway.port, 'Alice', 'wonderland', { source: '127.0.0.7' });

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.match(line['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '@timestamp is ISO 8601 UTC');
  t.equal(line.log.level, 'info');
  t.equal(line.event.kind, 'event');
  t.same(line.event.category, ['authentication']);
  t.equal(line.event.action, 'login-allow');
  t.equal(line.event.outcome, 'success');
  t.equal(line.source.ip, '127.0.0.7');
  t.equal(line.user_agent.original, BROWSER_HEADERS['user-agent']);
  t.equal(line.user_agent.name, 'Firefox');
  t.equal(line.user_agent.version, '128.0');
  t.equal(line.user_agent.os.name, 'Linux');
  t.equal(line.user_agent.device.name, 'desktop');
  t.match(line.user.name, /^[0-9a-f]{32}$/, 'user.name is a pseudonym by default');
  t.equal(line.user.name, gateway.context.keys.pseudonymize('alice'), 'of the normalised username');
  t.same(line.rule.name, [], 'no rule fired');
  t.equal(line.http.request.method, 'POST');
  t.match(line.http.request.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(upstream.logins[0].headers['x-request-id'], line.http.request.id, 'the app gets the same request id');
  t.equal(line.http.response.status_code, 200);
  t.equal(line.url.path, '/login');
  t.equal(line.riskgate.score, 0);
  t.equal(line.riskgate.decision, 'allow');
  t.equal(line.riskgate.counters.usernames_per_ip, 0, 'counters as read before the decision');
  t.equal(typeof line.riskgate.latency_ms.decision, 'number');
  t.equal(typeof line.riskgate.latency_ms.upstream, 'number');
  t.equal(line.riskgate.rule_set, gateway.context.rules.current.version);
  t.match(line.riskgate.rule_set, /^[0-9a-f]{12}$/);
  t.equal(line.message, 'login decision');
});

t.test('decision line has no secret-named key', async (t) => {
  // Decision lines skip the logger's redaction pass, so no key it redacts may appear at any depth.
  const { gateway } = await setup(t);
  await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.8' });
  const [line] = await waitForDecisions(gateway.logs, 1);

  const keys: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      keys.push(key.toLowerCase());
      collect(child);
    }
  };
  collect(line);
  t.ok(keys.length > 50, `${keys.length} keys were checked`);
  for (const name of ['password', 'token', 'assertion', 'authorization', 'cookie']) {
    t.notOk(keys.includes(name), `no key named ${name}`);
  }
});

t.test('blocked and challenged lines name their rules', async (t) => {
  const { gateway } = await setup(t);

  for (let index = 0; index < 11; index += 1) {
    await login(gateway.port, `user${index}`, 'x', { source: '127.0.0.8' });
  }

  const lines = await waitForDecisions(gateway.logs, 11);
  const challenged = lines[5];
  t.equal(challenged.event.action, 'login-challenge');
  t.equal(challenged.event.outcome, 'failure');
  t.same(challenged.rule.name, ['stuffing.usernames-per-ip-rising']);
  t.equal(challenged.riskgate.score, 50);
  t.equal(challenged.http.response.status_code, 401);
  t.equal(challenged.riskgate.latency_ms.upstream, undefined, 'never sent upstream');
  const blocked = lines[10];
  t.equal(blocked.event.action, 'login-block');
  t.same(blocked.rule.name, ['stuffing.usernames-per-ip']);
  t.equal(blocked.http.response.status_code, 429);
});

t.test('one decision line per login', async (t) => {
  const { gateway } = await setup(t);
  const logins = 25;

  await Promise.all(
    Array.from({ length: logins }, (_, index) => login(gateway.port, `user${index % 3}`, index % 2 ? 'wonderland' : 'x')),
  );
  await send(gateway.port, { path: '/not-a-login' });

  const lines = await waitForDecisions(gateway.logs, logins);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(gateway.logs.decisions.length, logins, 'as many lines as logins, and none for other requests');
  t.equal(new Set(lines.map((line) => line.http.request.id)).size, logins, 'each with its own request id');
});

t.test('decision lines at every log level', async (t) => {
  for (const logLevel of ['warn', 'error', 'silent'] as const) {
    const { upstream, gateway } = await setup(t, { logLevel });

    await login(gateway.port, 'alice', 'wonderland');
    await login(gateway.port, 'alice', 'x');

    const lines = await waitForDecisions(gateway.logs, 2).catch(() => gateway.logs.decisions);
    t.equal(upstream.logins.length, 2, `log.level ${logLevel}: both logins reached the app`);
    t.equal(lines.length, 2, `log.level ${logLevel}: each has its decision line`);
    t.equal(lines[0]?.log.level, 'info', `log.level ${logLevel}: at info`);
  }
});

t.test('username logging modes', async (t) => {
  for (const [mode, expected] of [['plain', 'alice'], ['omit', undefined]] as const) {
    const { gateway } = await setup(t, { config: { log: { level: 'info', username: mode } } });

    await login(gateway.port, '  ALICE ', 'wonderland');

    const [line] = await waitForDecisions(gateway.logs, 1);
    t.equal(line.user?.name, expected, `${mode}: user.name is ${expected ?? 'absent'}`);
    if (mode === 'omit') {
      t.notOk('user' in line, 'omit: no user object at all');
      t.equal(line.riskgate.signals.user.length, undefined, 'omit: nor the username length');
      t.equal(line.riskgate.signals.user.present, true, 'omit: the presence stays');
      t.notOk(gateway.logs.text.includes(gateway.context.keys.pseudonymize('alice')), 'omit: no pseudonym either');
    }
  }
});

t.test('a cut username keeps its surrogate pairs whole', async (t) => {
  // collation uca keeps the emoji, which any removes from account names.
  const { gateway } = await setup(t, { config: { log: { level: 'info', username: 'plain' }, username: { collation: 'uca' } } });
  // The cut at 256 characters falls between the two halves of the emoji.
  const username = `${'a'.repeat(255)}\u{1F600}${'b'.repeat(10)}`;

  await login(gateway.port, username, 'x');

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.user?.name, 'a'.repeat(255), 'the half pair is dropped');
  t.ok(line.riskgate.truncated?.includes('user.name'), 'and the cut is flagged');
  t.notMatch(gateway.logs.text, /\\ud83d/i, 'no lone surrogate reaches the log');
});

t.test('client strings are escaped in the log', async (t) => {
  const { gateway } = await setup(t);
  const body = '{"username":"alice","password":"wonderland"}';

  // Raw bytes, because Node's client refuses to send C1 controls. 0x9b is the 8-bit CSI that
  // starts a terminal escape sequence.
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    socket.on('data', () => socket.end());
    socket.on('close', () => resolve());
    socket.on('error', reject);
    socket.write(
      Buffer.concat([
        Buffer.from('POST /login HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nAccept-Language: en\r\nUser-Agent: evil'),
        Buffer.from([0x85, 0x9b]),
        Buffer.from('31m\r\nContent-Type: application/json\r\n'),
        Buffer.from(`Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`),
      ]),
    );
  });

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.user_agent.original, 'evil\\u0085\\u009b31m', 'controls become visible escapes');
  t.notOk(gateway.logs.text.includes('\u0085'), 'no raw C1 control in the log text');
});

const MARKER = 'Pw-Marker-7f3a9c!';
const TOKEN_MARKER = 'Bearer-Token-Marker-51d2';
const COOKIE_MARKER = 'Cookie-Marker-93be';

function formBody(username: string): string {
  return new URLSearchParams({ username, password: MARKER }).toString();
}

for (const level of ['info', 'debug']) {
  t.test(`password never logged at level ${level}`, async (t) => {
    // alice's password is the marker; bob's is not, so the same marker also fails.
    const { upstream, gateway } = await setup(t, { logLevel: level }, { alice: MARKER, bob: 'bobs-password' });
    const secrets = { authorization: `Bearer ${TOKEN_MARKER}`, cookie: `session=${COOKIE_MARKER}` };
    const json = (username: string, source?: string, path = '/login') =>
      send(gateway.port, {
        method: 'POST',
        path,
        source,
        headers: { ...BROWSER_HEADERS, ...secrets, 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: MARKER }),
      });
    const form = (username: string, source?: string) =>
      send(gateway.port, {
        method: 'POST',
        path: '/login',
        source,
        headers: { ...BROWSER_HEADERS, ...secrets, 'content-type': 'application/x-www-form-urlencoded' },
        body: formBody(username),
      });

    const statuses: number[] = [];
    statuses.push((await json('alice')).status, (await form('alice')).status);
    statuses.push((await json('bob')).status, (await form('bob')).status);
    statuses.push((await json('alice', undefined, `/login?password=${encodeURIComponent(MARKER)}`)).status);
    // Five other accounts from one address, then the challenge and, past ten, the block.
    for (let index = 0; index < 5; index += 1) await json(`spray${index}`, '127.0.0.9');
    statuses.push((await json('alice', '127.0.0.9')).status, (await form('bob', '127.0.0.9')).status);
    for (let index = 5; index < 9; index += 1) await form(`spray${index}`, '127.0.0.9');
    statuses.push((await json('alice', '127.0.0.9')).status, (await form('bob', '127.0.0.9')).status);
    const rejected = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: `{"username":"alice","password":"${MARKER}"`,
    });

    // The form post accepts HTML, so its challenge is a redirect to the MFA page.
    t.same(statuses, [200, 200, 401, 401, 200, 401, 303, 429, 429], 'success, failure, challenge and block all ran');
    t.equal(rejected.status, 400, 'the malformed body was rejected');
    t.equal(upstream.logins[0].body.toString().includes(MARKER), true, 'the app did get the password');
    await waitForDecisions(gateway.logs, 18);
    await waitFor(() => gateway.logs.lines.some((line) => line.message === 'login rejected'), 'the rejection line');

    const text = gateway.logs.text;
    for (const secret of [MARKER, encodeURIComponent(MARKER), formBody('x').split('password=')[1], TOKEN_MARKER, COOKIE_MARKER]) {
      t.notOk(text.includes(secret), `${JSON.stringify(secret)} appears in no log line`);
    }
    t.ok(gateway.logs.lines.length >= 19, `${gateway.logs.lines.length} lines were checked`);
  });
}

t.test('the decision line is written before the client has the whole answer', async (t) => {
  // With Redis, the outcome's counter write is a round trip that the client's response does
  // not wait for. A log reader that acts on the response must still find the line.
  const { gateway } = await setup(t, { store: 'redis' });
  const passwords = ['wonderland', 'not-her-password', 'wonderland', 'not-her-password'];

  const seen: number[] = [];
  for (const [index, password] of passwords.entries()) {
    await login(gateway.port, 'alice', password, { source: `127.0.0.${30 + index}` });
    seen.push(gateway.logs.decisions.length);
  }

  t.same(seen, [1, 2, 3, 4], 'one more decision line after each answer');
});

t.test('a client that stops reading a login response is cut off', async (t) => {
  // An app that responds to a failed login with a page far larger than the socket buffers.
  const { upstream, gateway } = await setup(t, { config: { upstream_timeouts: { response: '1s' } } });
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(401, { 'content-type': 'text/html' });
    response.end(Buffer.alloc(32 * 1024 * 1024, 'x'));
    return true;
  };
  const body = '{"username":"alice","password":"x"}';

  // The client reads the status line, then nothing more, and keeps its connection open.
  const socket = net.connect(gateway.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const status = await new Promise<string>((resolve) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(chunk.toString('latin1').split('\r\n')[0]);
    });
    socket.write(`POST /login HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nAccept-Language: en\r\nUser-Agent: Mozilla/5.0\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const started = Date.now();
  const [line] = await waitForDecisions(gateway.logs, 1);

  t.equal(status, 'HTTP/1.1 401 Unauthorized', 'the client saw the status');
  t.ok(Date.now() - started < 5000, 'the decision line came after the stall limit, not at the client\'s close');
  t.equal(line.event.outcome, 'failure', 'and the failure is counted');
});

t.test('matrix parameters of a login path stay out of the log', async (t) => {
  const { gateway } = await setup(t);

  await send(gateway.port, {
    method: 'POST',
    path: '/login;jsessionid=SESSION-MARKER/;password=PASSWORD-MARKER?next=/',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
    body: '{"username":"alice","password":"wonderland"}',
  });

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.url.path, '/login/');
  t.notMatch(gateway.logs.text, /MARKER/, 'no matrix parameter value is logged');
});

t.test('cookieless session segments stay out of the log', async (t) => {
  const { gateway } = await setup(t);

  for (const path of ['/(F(TICKET-MARKER))/login', '/%28S%28SESSION-MARKER%29%29/login']) {
    await send(gateway.port, {
      method: 'POST',
      path,
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: '{"username":"alice","password":"wonderland"}',
    });
  }
  // A rejected login logs its path too.
  await send(gateway.port, {
    method: 'POST',
    path: '/(F(REJECTED-MARKER))/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'text/plain' },
    body: 'x',
  });

  const lines = await waitForDecisions(gateway.logs, 2);
  t.same(lines.map((line) => line.url.path), ['/*/login', '/*/login']);
  await waitFor(() => gateway.logs.lines.some((line) => line.message === 'login rejected'), 'the rejection line');
  t.notMatch(gateway.logs.text, /MARKER/, 'no session id or ticket is logged');
});

t.test('a route segment read as a version is logged as sent', async (t) => {
  // riskgate reads oauth2 as the API version v2, and the log still names the route's own segment.
  const { gateway } = await setup(t, { config: { login_routes: [{ path: '/auth/oauth2/token' }] } });

  for (const path of ['/auth/oauth2/token', '/auth/v2/token', '/auth/alice2/token']) {
    await send(gateway.port, {
      method: 'POST',
      path,
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: '{"username":"alice","password":"wonderland"}',
    });
  }

  const lines = await waitForDecisions(gateway.logs, 3);
  t.same(lines.map((line) => line.url.path), ['/auth/oauth2/token', '/auth/v2/token', '/auth/*/token'],
    'the configured segment and its reading are logged, and other spellings are not');
});

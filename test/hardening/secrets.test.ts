import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import t, { type Test } from 'tap';

import { BROWSER_HEADERS, DEFAULT_RULES, PROJECT_ROOT, TEST_SECRET, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { rawExchange } from './raw.js';

const MARKER = `SECRET-MARKER-${randomBytes(6).toString('hex')}`;
const BASIC = Buffer.from(`alice:${MARKER}`).toString('base64');
const mfa = await generateKeyPair('ES256', { extractable: true });

/** Every kind of secret-bearing request, sent to a gateway on `port`. */
async function sendSecrets(port: number): Promise<void> {
  const json = { ...BROWSER_HEADERS, 'content-type': 'application/json' };
  const form = { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' };
  const stepUp = await new SignJWT({ riskgate_challenge: MARKER, note: MARKER })
    .setProtectedHeader({ alg: 'ES256', kid: MARKER })
    .setSubject('alice').setJti(MARKER).setIssuer('test-mfa').setAudience('riskgate').setExpirationTime('2m')
    .sign(mfa.privateKey);

  const requests = [
    { headers: json, body: JSON.stringify({ username: 'alice', password: MARKER }) },
    { headers: form, body: `username=alice&passwd=${MARKER}` },
    { headers: form, body: `username=alice&pass=${encodeURIComponent(MARKER)}` },
    { headers: { ...json, 'riskgate-step-up': stepUp }, body: JSON.stringify({ username: 'alice', password: 'x' }) },
    { headers: { ...json, 'riskgate-step-up': `${MARKER}.${MARKER}.${MARKER}` }, body: '{"username":"alice","password":"x"}' },
    { headers: { ...json, authorization: `Basic ${BASIC}` }, body: '{"username":"alice","password":"x"}' },
    { headers: { ...json, authorization: `Bearer ${MARKER}` }, body: '{"username":"alice","password":"x"}' },
    { headers: { ...json, cookie: `session=${MARKER}; __Host-rg_device=${MARKER}` }, body: '{"username":"alice","password":"x"}' },
    { headers: json, body: `{"username":"alice","password":"${MARKER}"` },
    { headers: json, body: `{"username":"alice","password":"${MARKER}","password":"${MARKER}",}` },
    { headers: form, body: Buffer.concat([Buffer.from(`username=alice&password=${MARKER}`), Buffer.from([0xff, 0xfe])]) },
    { headers: { ...json, 'content-encoding': 'gzip' }, body: `{"password":"${MARKER}"}` },
    { headers: { ...json, 'content-type': 'text/plain' }, body: `password=${MARKER}` },
  ];
  for (const request of requests) {
    await send(port, { method: 'POST', path: '/login', headers: request.headers, body: request.body });
  }
  await send(port, { method: 'POST', path: `/login?password=${MARKER}`, headers: json, body: '{"username":"alice"}' });
  await send(port, { path: `/account?token=${MARKER}`, headers: { authorization: `Basic ${BASIC}`, cookie: `session=${MARKER}` } });
  await rawExchange(port, `POST /login HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${BASIC}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n${MARKER}`);
  await rawExchange(port, `POST /login HTTP/1.1\r\nHost: x\r\nX-Token: ${MARKER}\u0001\r\n\r\n`);
}

function assertNoSecret(t: Test, output: string, where: string): void {
  t.notOk(output.includes(MARKER), `${where}: the marker appears nowhere`);
  t.notOk(output.includes(BASIC), `${where}: the Basic credentials appear nowhere`);
  t.notOk(output.includes(encodeURIComponent(MARKER)) && encodeURIComponent(MARKER) !== MARKER, `${where}: nor URL-encoded`);
}

t.test('debug logs of an in-process gateway carry no secret', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, logLevel: 'debug', stepUpKey: mfa.publicKey });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await sendSecrets(gateway.port);
  await waitFor(() => gateway.logs.decisions.length >= 5, 'decision lines');

  t.ok(gateway.logs.lines.length >= 10, 'the requests were logged');
  t.ok(upstream.logins.some((received) => received.body.includes(MARKER)), 'the app still received the password');
  assertNoSecret(t, gateway.logs.text, 'captured log');
});

for (const destination of ['stdout', 'file'] as const) {
  t.test(`a riskgate start process logging to ${destination} prints no secret`, async (t) => {
    const upstream = await new RecordingUpstream().start();
    const directory = mkdtempSync(join(tmpdir(), 'riskgate-secrets-'));
    const keyFile = join(directory, 'mfa.pem');
    const logFile = join(directory, 'riskgate.log');
    writeFileSync(keyFile, await exportSPKI(mfa.publicKey));
    const configFile = join(directory, 'riskgate.yaml');
    writeFileSync(configFile, [
      'listen: 127.0.0.1:0',
      'admin: { listen: 127.0.0.1:0 }',
      `upstream: ${upstream.url}`,
      `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
      'challenge: { mode: step-up, issuer: test-mfa, audience: riskgate, algorithms: [ES256], ' +
        `public_key_file: ${JSON.stringify(keyFile)} }`,
      `log: { level: debug, username: plain, destination: ${JSON.stringify(destination === 'file' ? logFile : 'stdout')} }`,
      '',
    ].join('\n'));

    const child = spawn(process.execPath, [resolve(PROJECT_ROOT, 'dist/cli/main.js'), 'start', '--config', configFile], {
      env: { PATH: process.env.PATH, RISKGATE_SECRET: TEST_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    t.teardown(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await upstream.stop();
      rmSync(directory, { recursive: true, force: true });
    });
    const log = () => (destination === 'file' ? readIfPresent(logFile) : stdout);

    await waitFor(() => log().includes('riskgate started'), 'the start line', 10_000);
    const started = JSON.parse(log().split('\n').find((line) => line.includes('riskgate started'))!);
    const port = Number(new URL(started.url.full).port);

    await sendSecrets(port);
    await waitFor(() => (log().match(/login decision/g) ?? []).length >= 5, 'decision lines', 5000);
    t.equal(child.exitCode, null, 'the gateway is still running after every request');

    child.kill('SIGTERM');
    const code = await exited;
    t.equal(code, 0, 'the gateway stops cleanly');
    t.ok(log().includes('login decision'), `decision lines were written to ${destination}`);
    assertNoSecret(t, stdout, 'stdout');
    assertNoSecret(t, stderr, 'stderr');
    if (destination === 'file') assertNoSecret(t, readIfPresent(logFile), 'log file');
  });
}

t.test('a crash trace carries no secret', async (t) => {
  // The HTTP parser's errors carry the raw request as rawPacket; a crash must not print it.
  const script = [
    `import { createLogger } from ${JSON.stringify(resolve(PROJECT_ROOT, 'dist/log/logger.js'))};`,
    `import { installCrashHandlers } from ${JSON.stringify(resolve(PROJECT_ROOT, 'dist/cli/lifecycle.js'))};`,
    "installCrashHandlers(createLogger({ level: 'info', destination: 'stdout' }));",
    "const error = Object.assign(new Error('Parse Error: Invalid header value char'), {",
    "  code: 'HPE_INVALID_HEADER_TOKEN',",
    `  rawPacket: Buffer.from('POST /login HTTP/1.1\\r\\nAuthorization: Basic ${BASIC}\\r\\n\\r\\n'),`,
    `  headers: { cookie: 'session=${MARKER}' },`,
    `  cause: new Error('${MARKER}'),`,
    '});',
    "setTimeout(() => { if (process.argv[1] === 'reject') Promise.reject(error); else throw error; }, 10);",
  ].join('\n');

  for (const mode of ['throw', 'reject']) {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, mode], { encoding: 'utf8' });
    const [line] = result.stdout.split('\n').filter(Boolean).map((text) => JSON.parse(text));

    t.equal(result.status, 1, `${mode}: the process exits 1`);
    t.equal(line?.message, 'riskgate crashed', `${mode}: one fatal line says so`);
    t.equal(line?.log.level, 'fatal');
    t.equal(line?.err.code, 'HPE_INVALID_HEADER_TOKEN', `${mode}: the line names the error`);
    t.equal(line?.riskgate.crash, mode === 'throw' ? 'uncaught exception' : 'unhandled rejection', `${mode}: and how it escaped`);
    t.equal(result.stderr, '', `${mode}: Node prints no trace of its own`);
    assertNoSecret(t, result.stdout, `${mode} stdout`);
  }
});

function readIfPresent(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

t.test('private path segments stay out of logs', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // A reset or magic-link token below the login path, and a session id in an encoded matrix parameter.
  const token = `8f14e45f${randomBytes(12).toString('hex')}`;
  // An app that takes the account from the path (`/login/<email>`) puts a username there.
  // NFKC reads the full-width `＠` (%EF%BC%A0) and the small `﹫` (%EF%B9%AB) as `@`.
  // A short password or a bare username below the login path is no less private.
  const paths = [`/login/reset/${token}`, `/login%3Bjsessionid=${token}`, '/login/zed@example.com', '/login/zed%40example.com/step',
    '/login/zed%EF%BC%A0example.com', '/login/zed%EF%B9%ABexample.com/x', '/login/zedpw4', '/login/zedd',
    '/LOGIN/index.php', '/login.html', '/%6Cogin/', '/app.php/login'];

  for (const path of paths) {
    await send(gateway.port, {
      method: 'POST', path, body: '{"username":"alice","password":"x"}', headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' } });
  }
  await waitFor(() => gateway.logs.decisions.length === paths.length, 'a decision line per path');

  t.same(gateway.logs.decisions.map((line) => line.url.path),
    ['/login/*/*', '/login', '/login/*', '/login/*/*', '/login/*', '/login/*/*', '/login/*', '/login/*',
      '/LOGIN/index.php', '/login.html', '/%6Cogin/', '/app.php/login'],
    'the paths are logged without the token, the address or the name, and login variants as sent');
  t.notOk(gateway.logs.text.includes(token), 'no log line holds the token');
  t.notOk(gateway.logs.text.includes('zed'), 'nor the username');
});

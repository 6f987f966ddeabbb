import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { CliProcess, cleanEnv, ensureBuilt, freePort, holdPort, runCli } from '../helpers/cli.js';
import { DEFAULT_RULES, REDIS_URL, TEST_SECRET, login, send } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';

ensureBuilt();

const directory = mkdtempSync(join(tmpdir(), 'riskgate-cli-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

// A free admin port per process, so that parallel test runs never race for the default 9090.
const ANY_ADMIN_PORT = { RISKGATE_ADMIN_LISTEN: '127.0.0.1:0' };

function configFile(name: string, lines: string[]): string {
  const file = join(directory, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

t.test('unknown command is refused', async (t) => {
  const result = runCli(['stat']);

  t.equal(result.status, 2);
  t.match(result.stderr, /riskgate: unknown command "stat"/);
  t.match(result.stderr, /Usage: riskgate <command> \[options\]/, 'followed by the usage');
});

t.test('risk-key needs the secret and takes no arguments', async (t) => {
  const missing = runCli(['risk-key']);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /RISKGATE_SECRET is not set/);
  t.equal(missing.stdout, '', 'no key printed');

  const short = runCli(['risk-key'], cleanEnv({ RISKGATE_SECRET: 'short' }));
  t.equal(short.status, 1);
  t.match(short.stderr, /too short \(5 characters\)/);

  const extra = runCli(['risk-key', 'alice'], cleanEnv({ RISKGATE_SECRET: TEST_SECRET }));
  t.equal(extra.status, 1);
  t.match(extra.stderr, /risk-key takes no arguments, got "alice"/);

  const other = runCli(['risk-key'], cleanEnv({ RISKGATE_SECRET: `${TEST_SECRET}-other` }));
  const mine = runCli(['risk-key'], cleanEnv({ RISKGATE_SECRET: TEST_SECRET }));
  t.not(other.stdout, mine.stdout, 'each secret gives its own key');
  t.notOk(mine.stdout.includes(TEST_SECRET), 'the secret itself is not printed');
});

t.test('start --help', async (t) => {
  const result = runCli(['start', '--help']);

  t.equal(result.status, 0);
  t.match(result.stdout, /^Usage: riskgate start \[--config FILE\]/);
  t.match(result.stdout, /RISKGATE_SECRET\s+required/);
  t.match(result.stdout, /RISKGATE_LISTEN/);
  t.equal(result.stderr, '');
});

t.test('demo --help', async (t) => {
  const result = runCli(['demo', '--help']);

  t.equal(result.status, 0);
  t.match(result.stdout, /^Usage: riskgate demo/);
  t.match(result.stdout, /RISKGATE_LISTEN\s+host:port to listen on/);
});

t.test('start without RISKGATE_SECRET exits 1', async (t) => {
  const file = configFile('no-secret.yaml', ['upstream: http://127.0.0.1:3000', `rules: [${DEFAULT_RULES}]`, 'challenge: { mode: forward }']);

  const result = runCli(['start', '--config', file]);

  t.equal(result.status, 1);
  t.match(result.stderr, /RISKGATE_SECRET is not set/);
  t.match(result.stderr, /export RISKGATE_SECRET="\$\(openssl rand -base64 48\)"/, 'says how to set it');
  t.equal(result.stdout, '', 'nothing started');
});

t.test('start serves logins and stops on SIGTERM', async (t) => {
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  const port = await freePort();
  const file = configFile('start.yaml', [
    `listen: 127.0.0.1:${port}`,
    'upstream: http://127.0.0.1:1',
    `rules: [${DEFAULT_RULES}]`,
    'challenge: { mode: forward }',
  ]);
  const env = cleanEnv({ RISKGATE_SECRET: TEST_SECRET, RISKGATE_UPSTREAM: upstream.url, ...ANY_ADMIN_PORT });
  const child = new CliProcess(['start', '--config', file], env);
  t.teardown(() => child.kill());

  await child.waitForOutput('"riskgate started"');
  const reply = await login(port, 'alice', 'wonderland');
  await child.waitForOutput('"login decision"');
  child.child.kill('SIGTERM');
  const exit = await child.exited;

  t.equal(reply.status, 200, 'the login was forwarded to RISKGATE_UPSTREAM');
  t.equal(upstream.logins.length, 1);
  t.equal(exit.code, 0, 'a clean exit after SIGTERM');
  t.match(child.stdout, /"message":"shutting down"/);
  t.match(child.stdout, /"message":"stopped"/);
  t.notMatch(child.stdout, /wonderland/, 'the password is not logged');
});

t.test('demo prints its guide and serves a login', async (t) => {
  const port = await freePort();
  const child = new CliProcess(['demo'], cleanEnv({ RISKGATE_LISTEN: `127.0.0.1:${port}`, ...ANY_ADMIN_PORT }));
  t.teardown(() => child.kill());

  await child.waitForOutput('Stop with Ctrl-C.');
  const url = `http://127.0.0.1:${port}`;
  t.match(child.stdout, `riskgate demo: gateway on ${url}`, 'the URL');
  t.match(child.stdout, /alice \/ wonderland/, 'the demo users');
  t.match(child.stdout, `curl -i `, 'curl lines');
  t.match(child.stdout, `${url}/login`, 'aimed at the gateway');

  const reply = await login(port, 'alice', 'wonderland');
  t.equal(reply.status, 200, 'a good login passes');
  await child.waitForOutput('"login decision"');

  child.child.kill('SIGTERM');
  const exit = await child.exited;
  t.equal(exit.code, 0, 'a clean exit after SIGTERM');
});

t.test('demo --help lists the log level', async (t) => {
  const result = runCli(['demo', '--help']);

  t.match(result.stdout, /RISKGATE_LOG_LEVEL\s+log level/);
});

t.test('start without a step-up key exits 1', async (t) => {
  const file = configFile('no-key.yaml', ['upstream: http://127.0.0.1:3000', `rules: [${DEFAULT_RULES}]`]);

  const result = runCli(['start', '--config', file], cleanEnv({ RISKGATE_SECRET: TEST_SECRET }));

  t.equal(result.status, 1);
  t.match(result.stderr, /no-key\.yaml:1:1: challenge\.mode is step-up \(the default\) but no key to verify/);
  t.match(result.stderr, /or set challenge\.mode: forward/, 'names the fix');
});

t.test('start with a missing key file exits 1', async (t) => {
  const file = configFile('missing-key.yaml', [
    'upstream: http://127.0.0.1:3000',
    `rules: [${DEFAULT_RULES}]`,
    `store: { url: ${REDIS_URL} }`,
    'challenge: { public_key_file: absent.pem }',
  ]);

  const result = runCli(['start', '--config', file], cleanEnv({ RISKGATE_SECRET: TEST_SECRET, ...ANY_ADMIN_PORT }));

  t.equal(result.status, 1, 'exits instead of hanging on the Redis connection');
  t.match(result.stderr, `challenge.public_key_file: cannot read ${join(directory, 'absent.pem')}: file not found`);
});

t.test('start on a busy port exits 1', async (t) => {
  const busy = await holdPort();
  t.teardown(() => busy.close());
  const file = configFile('busy.yaml', [
    `listen: 127.0.0.1:${busy.port}`,
    'upstream: http://127.0.0.1:3000',
    `rules: [${DEFAULT_RULES}]`,
    `store: { url: ${REDIS_URL} }`,
    'challenge: { mode: forward }',
  ]);

  const result = runCli(['start', '--config', file], cleanEnv({ RISKGATE_SECRET: TEST_SECRET, ...ANY_ADMIN_PORT }));

  t.equal(result.status, 1, 'exits instead of hanging on the Redis connection');
  t.match(result.stderr, `the gateway could not listen on 127.0.0.1:${busy.port}: listen EADDRINUSE`);
  t.match(result.stderr, /set listen or RISKGATE_LISTEN to a free address/);
});

t.test('demo on a busy port exits 1', async (t) => {
  const busy = await holdPort();
  t.teardown(() => busy.close());

  const result = runCli(['demo'], cleanEnv({ RISKGATE_LISTEN: `127.0.0.1:${busy.port}`, ...ANY_ADMIN_PORT }));

  t.equal(result.status, 1, 'exits although the demo app was already listening');
  t.match(result.stderr, /set listen or RISKGATE_LISTEN to a free address/);
});

t.test('demo takes a free admin port when the default one is busy', async (t) => {
  // Hold 127.0.0.1:9090 unless something else already does; either way it is busy.
  const holder = net.createServer();
  await new Promise<void>((done) => {
    holder.once('error', () => done());
    holder.listen(9090, '127.0.0.1', () => done());
  });
  t.teardown(() => new Promise<void>((done) => (holder.listening ? holder.close(() => done()) : done())));
  const port = await freePort();
  const child = new CliProcess(['demo'], cleanEnv({ RISKGATE_LISTEN: `127.0.0.1:${port}` }));
  t.teardown(() => child.kill());

  await child.waitForOutput('"message":"riskgate demo started"');
  const lines = child.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
  const warning = lines.find((line) => line.message.startsWith('the default admin address is in use'));
  const started = lines.find((line) => line.message === 'riskgate demo started');
  const adminPort = Number(new URL(started.admin.url).port);
  const health = await send(adminPort, { path: '/healthz' });

  t.equal(warning?.admin.url, 'http://127.0.0.1:9090', 'a warning names the busy default');
  t.not(adminPort, 9090);
  t.equal(health.status, 200, 'the admin listener answers on the port it took');
  child.child.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
});

t.test('demo on a busy admin port that the user set exits 1', async (t) => {
  const busy = await holdPort();
  t.teardown(() => busy.close());

  const result = runCli(['demo'], cleanEnv({ RISKGATE_LISTEN: `127.0.0.1:${await freePort()}`,
    RISKGATE_ADMIN_LISTEN: `127.0.0.1:${busy.port}` }));

  t.equal(result.status, 1);
  t.match(result.stderr, `the admin listener could not listen on 127.0.0.1:${busy.port}: listen EADDRINUSE`);
});

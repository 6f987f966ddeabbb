import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, renameSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import t, { type Test } from 'tap';

import { VERSION } from '../../src/cli/version.js';
import { login, send } from '../helpers/gateway.js';
import { readAvailable } from '../helpers/pipe.js';
import { RedisServer, baseArguments, temporaryDirectory } from '../helpers/redis-server.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { readLines, spawnGateway } from './process.js';

const SLOW_MS = 1500;
const IN_FLIGHT = 20;

/** An upstream that answers every login with 200 after SLOW_MS, counting arrivals. */
async function startSlowUpstream(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      setTimeout(() => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"ok":true}');
      }, SLOW_MS);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => received,
    close: () => new Promise((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

t.test('SIGTERM finishes every in-flight login', async (t) => {
  const upstream = await startSlowUpstream();
  const gateway = await spawnGateway({ upstream: upstream.url });
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await upstream.close();
  });
  const port = portOf(gateway.url);
  const adminPort = portOf(gateway.adminUrl);

  const keepAlive = new http.Agent({ keepAlive: true });
  // Each login comes from its own loopback address: twenty accounts in flight from one
  // address would rightly trip the distinct-usernames-per-IP block.
  const pending = Array.from({ length: IN_FLIGHT }, (_, index) =>
    login(port, `user${index}`, 'wonderland', { source: `127.0.0.${index + 2}` }));
  pending.push(new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/login', agent: keepAlive,
      headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 Firefox/128.0', accept: '*/*', 'accept-language': 'en' } },
    (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: '', json: () => ({}) }));
    });
    request.on('error', reject);
    request.end(JSON.stringify({ username: 'keepalive', password: 'wonderland' }));
  }));
  await waitFor(() => upstream.received() === IN_FLIGHT + 1, 'every login to reach the upstream', 5000);

  const signalled = Date.now();
  gateway.child.kill('SIGTERM');
  await sleep(200);
  const refused = await send(port, { path: '/' }).then(() => 'accepted', (error: NodeJS.ErrnoException) => error.code);
  const replies = await Promise.all(pending);
  const exit = await gateway.exited;
  const stoppedAfterMs = Date.now() - signalled;
  keepAlive.destroy();

  t.equal(refused, 'ECONNREFUSED', 'no new connection is accepted after SIGTERM');
  t.same(replies.map((reply) => reply.status), Array(IN_FLIGHT + 1).fill(200));
  t.same(exit, { code: 0, signal: null });
  t.ok(stoppedAfterMs < SLOW_MS + 2500, `the process stopped ${stoppedAfterMs} ms after SIGTERM, not at a keep-alive timeout`);
  t.equal(gateway.lines.filter((line) => line.message === 'login decision').length, IN_FLIGHT + 1,
    'every decision line was flushed before exit');
  t.ok(gateway.lines.some((line) => line.message === 'shutting down' && line.signal === 'SIGTERM'));
  t.equal(gateway.lines.at(-1)?.message, 'stopped');
  const admin = await send(adminPort, { path: '/healthz' }).then(() => 'accepted', (error: NodeJS.ErrnoException) => error.code);
  t.equal(admin, 'ECONNREFUSED', 'the admin listener is closed');
});

t.test('start-up line names version, rules, store and addresses', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await spawnGateway({ upstream: upstream.url });
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await upstream.stop();
  });

  const line = gateway.lines.find((candidate) => candidate.message === 'riskgate started')!;
  const health = await send(portOf(gateway.adminUrl), { path: '/healthz' });
  gateway.child.kill('SIGTERM');
  const exit = await gateway.exited;

  t.equal(line.service.version, VERSION);
  t.match(line.riskgate.rule_set, /^[0-9a-f]{8,}$/);
  t.equal(line.riskgate.store, 'memory');
  t.match(line.url.full, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(line.admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(line.admin.url, line.url.full);
  t.equal(line.admin.api, false);
  t.equal(line.log.level, 'info');
  t.equal(health.status, 200);
  t.same(health.json(), { status: 'ok' });
  t.equal(exit.code, 0);
});

t.test('start-up line hides the Redis password', async (t) => {
  const password = 'start-line-password-0123456789';
  const directory = temporaryDirectory('start-line');
  const redis = await RedisServer.start({ directory: directory.path, args: (port) => [...baseArguments(port), '--requirepass', password] });
  const upstream = await new RecordingUpstream().start();
  t.teardown(async () => {
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  // The Redis client reads the password from the user info or from the query.
  const forms = [
    { url: `redis://:${password}@127.0.0.1:${redis.port}/0`, shown: `redis://127.0.0.1:${redis.port}/0` },
    { url: `redis://127.0.0.1:${redis.port}/0?password=${password}&family=4`, shown: `redis://127.0.0.1:${redis.port}/0?password=***&family=***` },
  ];
  for (const form of forms) {
    const gateway = await spawnGateway({ upstream: upstream.url, env: { REDIS_URL: form.url } });
    const line = gateway.lines.find((candidate) => candidate.message === 'riskgate started')!;
    const reply = await login(portOf(gateway.url), 'alice', 'wonderland');
    gateway.child.kill('SIGTERM');
    await gateway.exited;

    t.equal(line.riskgate.store, 'redis');
    t.equal(line.riskgate.store_address, form.shown);
    t.equal(reply.status, 200);
    t.equal(gateway.lines.find((candidate) => candidate.message === 'login decision')?.riskgate.store, 'redis',
      'the password in the URL let the gateway in');
    t.notOk(JSON.stringify(gateway.lines).includes(password), 'no log line contains the password');
    t.notOk(gateway.stderr.includes(password), 'stderr does not contain the password');
  }
});

/** Spawn a gateway that logs to `decisions.log`, with the path it is rotated to and a reader of its decision lines. */
async function spawnWithLogFile(t: Test) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await spawnGateway({ upstream: upstream.url, logFile: 'decisions.log' });
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await upstream.stop();
  });
  return {
    gateway,
    upstream,
    file: join(gateway.directory, 'decisions.log'),
    rotated: join(gateway.directory, 'decisions.log.1'),
    port: portOf(gateway.url),
    decisions: (path: string) => readLines(path).filter((line) => line.message === 'login decision'),
  };
}

t.test('SIGUSR2 reopens the log file after rotation', async (t) => {
  const { gateway, file, rotated, port, decisions } = await spawnWithLogFile(t);

  await login(port, 'before', 'wonderland');
  await waitFor(() => decisions(file).length === 1, 'the first decision line in the file', 5000);
  renameSync(file, rotated);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => readLines(file).some((line) => line.message === 'log file reopened'), 'the reopened file', 5000);
  await login(port, 'after', 'wonderland');
  await waitFor(() => decisions(file).length === 1, 'the second decision line in the new file', 5000);
  gateway.child.kill('SIGTERM');
  await gateway.exited;

  t.equal(decisions(rotated).length, 1, 'the rotated file keeps only the line written before rotation');
  t.equal(decisions(file).length, 1, 'the new file has the line written after rotation');
  t.equal(readLines(file).at(-1)?.message, 'stopped', 'the shutdown lines go to the new file');
  t.equal(gateway.lines.length, 0, 'nothing is written to stdout');
});

t.test('a full log disk refuses logins and keeps serving', { skip: process.platform === 'linux' ? false : 'needs /dev/full' }, async (t) => {
  const { gateway, upstream, file, rotated, port, decisions } = await spawnWithLogFile(t);

  // After rotation the path leads to /dev/full, where every write fails with ENOSPC.
  renameSync(file, rotated);
  symlinkSync('/dev/full', file);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => gateway.stderr.includes('ENOSPC') || gateway.child.exitCode !== null, 'the write error on stderr', 5000);

  const refused = await login(port, 'diskfull', 'wonderland');
  t.equal(gateway.child.exitCode, null, 'the gateway is still running');
  t.equal(refused.status, 503, 'a login gets 503');
  t.equal(refused.json().title, 'decision log unavailable');
  t.equal(upstream.logins.length, 0, 'and does not reach the app');
  t.equal((await send(port, { path: '/' })).status, 200, 'other pages are still served');
  const unready = await fetch(`${gateway.adminUrl}/readyz`);
  const report = await unready.json() as { status: string; checks: { log: { status: string; error?: string } } };
  t.equal(unready.status, 503, '/readyz takes the instance out of rotation');
  t.same(report.checks.log, { status: 'failing', error: 'ENOSPC' }, 'and names the error code');
  const failure = JSON.parse(gateway.stderr.trim().split('\n')[0]);
  t.equal(failure.err.code, 'ENOSPC', 'stderr names the error code');
  t.equal(failure.file.path, file, 'and the path');

  // Once the path can be written again, the next line ends the refusals.
  unlinkSync(file);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => readLines(file).some((line) => line.message === 'log file reopened'), 'the reopened file', 5000);
  t.equal((await login(port, 'recovered', 'wonderland')).status, 200, 'logins get through again');
  const ready = await fetch(`${gateway.adminUrl}/readyz`);
  t.equal(ready.status, 200, '/readyz is ready again');
  t.same((await ready.json() as { checks: { log: unknown } }).checks.log, { status: 'ok' });
  await waitFor(() => decisions(file).length === 1, 'the decision line in the new file', 5000);
  t.match(gateway.stderr, /writing the log file .* works again/, 'stderr says the log works again');
});

t.test('readiness probe retries a failing log', { skip: process.platform === 'linux' ? false : 'needs mkfifo' }, async (t) => {
  const { gateway, file, rotated, port } = await spawnWithLogFile(t);

  // The log goes into a pipe. With its reader gone, writes fail with EPIPE; a new reader
  // makes them work again without anything the gateway could notice by itself.
  renameSync(file, rotated);
  execFileSync('mkfifo', [file]);
  const first = readPipe(file);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => first.text().includes('log file reopened'), 'the reopen line in the pipe', 5000);
  first.child.kill('SIGKILL');
  await waitFor(async () => (await login(port, 'unseen', 'wonderland')).status === 503, 'a refused login', 5000);

  const unready = await fetch(`${gateway.adminUrl}/readyz`);
  t.equal(unready.status, 503, 'the instance leaves rotation');
  t.same((await unready.json() as { checks: { log: unknown } }).checks.log, { status: 'failing', error: 'EPIPE' });

  const second = readPipe(file);
  t.teardown(() => second.child.kill('SIGKILL'));
  await waitFor(async () => (await fetch(`${gateway.adminUrl}/readyz`)).status === 200, 'readiness after the new reader', 5000);
  // The line reaches this process through cat, a moment after the gateway wrote it.
  await waitFor(() => second.text().includes('readiness probe'), 'the probe\'s line at the new reader', 5000);
  t.match(second.text(), /readiness probe: trying the log again/, 'the probe\'s line reached the new reader');
  t.equal((await login(port, 'recovered', 'wonderland')).status, 200, 'logins get through again');
});

/**
 * Read a named pipe as it is written, with `cat` in a child process, keeping the text
 * received so far. Killing the child closes the pipe's read end at once.
 */
function readPipe(path: string): { child: ChildProcess; text: () => string } {
  let received = '';
  const child = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout!.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8');
  });
  return { child, text: () => received };
}

t.test('closed stdout pipe refuses logins', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await spawnGateway({ upstream: upstream.url });
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await upstream.stop();
  });
  const port = portOf(gateway.url);
  t.equal((await login(port, 'before', 'wonderland')).status, 200);

  // The log's reader goes away, as when a log shipper reading the pipe stops.
  gateway.child.stdout!.destroy();
  await waitFor(async () => (await login(port, 'unlogged', 'wonderland')).status === 503, 'a refused login', 5000);
  const logins = upstream.logins.length;
  const refused = await login(port, 'refused', 'wonderland');
  t.equal(refused.json().title, 'decision log unavailable');
  t.equal(upstream.logins.length, logins, 'the refused login does not reach the app');
  t.equal(gateway.child.exitCode, null, 'the gateway is still running');
  t.match(gateway.stderr, /writing the log to stdout failed \(EPIPE\)/, 'stderr names stdout and the error code');

  const unready = await fetch(`${gateway.adminUrl}/readyz`);
  t.equal(unready.status, 503, '/readyz takes the instance out of rotation');
});

t.test('a stdout reader that falls behind stalls no request', { skip: process.platform === 'linux' ? false : 'needs mkfifo' }, async (t) => {
  // stdout is a named pipe opened for blocking writes, as a shell pipe or a container's log
  // pipe is. The test reads it, then stops reading while the gateway logs many logins.
  const directory = temporaryDirectory('stdout');
  t.teardown(directory.remove);
  const fifo = join(directory.path, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  let text = '';
  const read = () => {
    text += readAvailable(reader);
    return text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as Record<string, any>);
  };
  const upstream = await new RecordingUpstream().start();
  const gateway = await spawnGateway({ upstream: upstream.url, stdout: { fd: writer, lines: read } });
  closeSync(writer);
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await gateway.exited;
    closeSync(reader);
    await upstream.stop();
  });
  const port = portOf(gateway.url);

  // Each decision line is over 600 bytes, so 200 of them fill the 64 KiB pipe twice over.
  const logins = 200;
  for (let index = 0; index < logins; index += 1) {
    const answer = await Promise.race([
      login(port, `user${index}`, 'wonderland', { source: `127.0.${1 + (index % 50)}.1` }),
      sleep(5000).then(() => undefined),
    ]);
    if (answer?.status !== 200) {
      t.fail(`login ${index} got ${answer?.status ?? 'no answer within 5 s'} while the reader was behind`);
      return;
    }
  }
  t.pass(`${logins} logins were answered while nothing read the log`);
  t.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200, 'a reader that is behind, with nothing lost, keeps the instance ready');

  const decisionLines = () => read().filter((line) => line.message === 'login decision');
  await waitFor(() => decisionLines().length >= logins, 'every decision line once the reader reads again', 5000);
  const decisions = decisionLines();
  t.equal(decisions.length, logins, 'every decision line arrived whole');
});

t.test('failed log reopen keeps the gateway running', async (t) => {
  const { gateway, file, rotated, port, decisions } = await spawnWithLogFile(t);

  renameSync(file, rotated);
  mkdirSync(file);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => gateway.stderr.includes('EISDIR') || gateway.child.exitCode !== null, 'the reopen error on stderr', 5000);
  await sleep(500);
  t.equal(gateway.child.exitCode, null, 'the gateway is still running');
  const reply = await login(port, 'after', 'wonderland');
  t.equal(reply.status, 200, 'logins still get through');
  await waitFor(() => decisions(rotated).length === 1, 'the decision line in the file open before', 5000);

  const failure = readLines(rotated).find((line) => line.log.level === 'error');
  t.equal(failure?.file.path, file, 'the error line in the old file names the path');
  t.equal(failure?.err.code, 'EISDIR', 'the error line names the error code');
  const stderr = JSON.parse(gateway.stderr.trim().split('\n')[0]);
  t.equal(stderr.file.path, file, 'the line on stderr names the path');
  t.equal(stderr.err.code, 'EISDIR', 'the line on stderr names the error code');
  t.notOk(readLines(rotated).some((line) => line.message === 'log file reopened'), 'no reopen is claimed');

  rmdirSync(file);
  gateway.child.kill('SIGUSR2');
  await waitFor(() => readLines(file).some((line) => line.message === 'log file reopened'), 'the reopened file', 5000);
  gateway.child.kill('SIGTERM');
  t.same(await gateway.exited, { code: 0, signal: null }, 'the gateway stops cleanly after the next reopen');
});

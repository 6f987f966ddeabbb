import http from 'node:http';
import type { AddressInfo } from 'node:net';

import t, { type Test } from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { login, startTestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';

type Tap = Test;

/** Start an upstream whose login responses have the statuses of `statuses` in turn. */
async function scriptedUpstream(t: Tap, statuses: number[]) {
  const upstream = await new RecordingUpstream().start();
  const queue = [...statuses];
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const status = queue.shift() ?? 200;
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (status >= 300 && status < 400) headers.location = '/home';
    response.writeHead(status, headers);
    response.end(`status ${status}`);
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

async function gatewayFor(t: Tap, upstream: string, options: Partial<TestGatewayOptions> = {}) {
  const gateway = await startTestGateway({ upstream, clock: new FakeClock().read, ...options });
  t.teardown(() => gateway.close());
  return gateway;
}

t.test('only 401 and 403 count as failures', async (t) => {
  const statuses = [500, 400, 404, 403, 401, 502, 302];
  const upstream = await scriptedUpstream(t, statuses);
  const gateway = await gatewayFor(t, upstream.url);

  for (const status of statuses) {
    const reply = await login(gateway.port, 'alice', 'whatever');
    t.equal(reply.status, status, `the app's ${status} comes back`);
  }
  await login(gateway.port, 'alice', 'whatever');

  const lines = await waitForDecisions(gateway.logs, statuses.length + 1);
  t.same(
    lines.map((line) => line.riskgate.counters.failures_per_account),
    [0, 0, 0, 0, 1, 2, 2, 2],
    'the account failure count rises after the 403 and the 401 only',
  );
  t.same(
    lines.slice(0, statuses.length).map((line) => line.event.outcome),
    ['unknown', 'unknown', 'unknown', 'failure', 'failure', 'unknown', 'success'],
  );
  t.same(
    lines.map((line) => line.riskgate.counters.attempts_per_ip),
    [0, 1, 2, 3, 4, 5, 6, 7],
    'every judged login counts as an attempt',
  );
});

t.test('route failure_status decides what fails', async (t) => {
  const upstream = await scriptedUpstream(t, [400, 401]);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ id: 'token', path: '/login', failure_status: ['400'] }] },
  });

  await login(gateway.port, 'alice', 'x');
  await login(gateway.port, 'alice', 'x');
  await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 3);
  t.same(lines.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 1], 'the 400 counts, the 401 does not');
  t.equal(lines[0].riskgate.route, 'token');
});

t.test('redirect to a failure location fails', async (t) => {
  // A form-login app redirects both outcomes: a failure back to the login page.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const accepted = request.body.includes('"password":"wonderland"');
    response.writeHead(302, { location: accepted ? '/home' : 'https://app.example/LOGIN/?error' });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', failure_location: ['/login'] }] },
  });

  const replies = [];
  for (const password of ['x', 'y', 'z', 'wonderland']) replies.push(await login(gateway.port, 'alice', password));

  const lines = await waitForDecisions(gateway.logs, 4);
  t.same(replies.map((reply) => reply.status), [302, 302, 302, 302], "the app's redirects come back");
  t.same(lines.map((line) => line.event.outcome), ['failure', 'failure', 'failure', 'success']);
  t.same(lines.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3], 'each redirect to the login page counts');
  t.same(replies.map((reply) => reply.headers['set-cookie'] !== undefined), [false, false, false, true], 'only the success gets a device cookie');
});

t.test('success clears the account-address streak', async (t) => {
  const upstream = await scriptedUpstream(t, [401, 401, 401, 200]);
  const gateway = await gatewayFor(t, upstream.url);

  for (let index = 0; index < 5; index += 1) await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 5);
  t.equal(lines[3].riskgate.counters.failures_per_account_ip, 3, 'three failures from this address');
  t.equal(lines[4].riskgate.counters.failures_per_account_ip, 0, 'cleared by the success');
  t.equal(lines[4].riskgate.counters.failures_per_account, 3, 'the account-wide count stays');
});

t.test('challenged and blocked logins are no failures', async (t) => {
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);

  for (let index = 0; index < 14; index += 1) await login(gateway.port, `user${index}`, 'x', { source: '127.0.0.10' });

  const lines = await waitForDecisions(gateway.logs, 14);
  t.equal(upstream.logins.length, 5, 'five logins reached the app and failed');
  t.equal(lines[13].riskgate.counters.failures_per_ip, 5, 'only those five count as failures');
  t.equal(lines[13].riskgate.counters.usernames_per_ip, 13, 'every judged username counts');
});

t.test('unreachable upstream answers 502', async (t) => {
  // A port that was just free: nothing listens there.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const gateway = await gatewayFor(t, `http://127.0.0.1:${port}`);

  const reply = await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'alice', 'wonderland');

  t.equal(reply.status, 502);
  t.equal(reply.json().title, 'upstream unavailable');
  const lines = await waitForDecisions(gateway.logs, 2);
  t.equal(lines[0].event.outcome, 'unknown');
  t.equal(lines[0].riskgate.upstream_error, 'connect');
  t.equal(lines[1].riskgate.counters.failures_per_account, 0, 'no failure counted');
  await waitFor(() => gateway.logs.lines.some((line) => line.message === 'upstream request failed'), 'the error line');
  const error = gateway.logs.lines.find((line) => line.message === 'upstream request failed')!;
  t.equal(error.log.level, 'error');
  t.match(error.err.message, /ECONNREFUSED/, 'the error line says why');
  t.equal(error.http.request.id, lines[0].http.request.id, 'and names the request');
});

t.test('hanging upstream answers 504', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, { config: { upstream_timeouts: { connect: '1s', response: '200ms' } } });

  const reply = await login(gateway.port, 'alice', 'wonderland');

  t.equal(reply.status, 504);
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.upstream_error, 'timeout');
  t.equal(line.event.outcome, 'unknown');
});

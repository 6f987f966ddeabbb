import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

import t from 'tap';

import { BROWSER_HEADERS, send, startTestGateway } from '../helpers/gateway.js';
import { RedisServer, baseArguments, temporaryDirectory } from '../helpers/redis-server.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { parseMetrics } from './client.js';

async function readiness(port: number): Promise<{ status: number; body: Record<string, any> }> {
  const reply = await send(port, { path: '/readyz' });
  return { status: reply.status, body: reply.json() };
}

t.test('readyz follows the store fail mode', async (t) => {
  const directory = temporaryDirectory('readiness');
  let redis = await RedisServer.start({ directory: directory.path, args: baseArguments });
  const upstream = await new RecordingUpstream().start();
  const store = { url: `redis://127.0.0.1:${redis.port}/0`, key_prefix: 'rgtready', timeout: '100ms' };
  const closed = await startTestGateway({
    upstream: upstream.url,
    config: { store, login_routes: [{ id: 'web', path: '/login', on_store_error: 'closed' }] },
  });
  const open = await startTestGateway({
    upstream: upstream.url,
    config: { store, login_routes: [{ id: 'web', path: '/login', on_store_error: 'open' }] },
  });
  t.teardown(async () => {
    await closed.close();
    await open.close();
    await upstream.stop();
    await redis.stop();
    directory.remove();
  });

  const closedBefore = await readiness(closed.adminPort);
  const openBefore = await readiness(open.adminPort);
  t.equal(closedBefore.status, 200);
  t.equal(closedBefore.body.status, 'ready');
  t.equal(closedBefore.body.checks.store.status, 'ok');
  t.equal(closedBefore.body.checks.upstream.status, 'ok');
  t.equal(openBefore.status, 200);

  await redis.stop();
  let closedDuring = await readiness(closed.adminPort);
  // The store check is cached for two seconds; poll until the cached "ok" has aged out.
  const deadline = Date.now() + 4000;
  while (closedDuring.status === 200 && Date.now() < deadline) {
    await sleep(200);
    closedDuring = await readiness(closed.adminPort);
  }
  let openDuring = await readiness(open.adminPort);
  while (openDuring.body.status === 'ready' && Date.now() < deadline) {
    await sleep(200);
    openDuring = await readiness(open.adminPort);
  }
  const metrics = parseMetrics((await send(closed.adminPort, { path: '/metrics' })).body);
  const health = await send(closed.adminPort, { path: '/healthz' });

  t.equal(closedDuring.status, 503);
  t.equal(closedDuring.body.status, 'not_ready');
  t.equal(closedDuring.body.checks.store.status, 'unavailable');
  t.same(closedDuring.body.checks.store.fail_closed_routes, ['web']);
  t.equal(openDuring.status, 200);
  t.equal(openDuring.body.status, 'degraded');
  t.match(openDuring.body.notes[0], /per-process memory counters/);
  for (const [name, report] of [['fail-open', openDuring], ['fail-closed', closedDuring]] as const) {
    t.notMatch(report.body.checks.store.error, /fails closed/, `the ${name} report does not give a login route's message`);
    t.match(report.body.checks.store.error, /^Redis /, `the ${name} report gives the store's error`);
  }
  t.equal(metrics.get('riskgate_store_outage'), 1);
  t.ok((metrics.get('riskgate_store_errors_total{operation="read"}') ?? 0) >= 1, 'the failed probe counts as a store error');
  t.equal(health.status, 200, 'liveness does not depend on the store');

  redis = await redis.restart();
  let closedAfter = await readiness(closed.adminPort);
  const recovery = Date.now() + 6000;
  while (closedAfter.status !== 200 && Date.now() < recovery) {
    await sleep(200);
    closedAfter = await readiness(closed.adminPort);
  }
  t.equal(closedAfter.status, 200);
  t.equal(closedAfter.body.status, 'ready');
});

t.test('readyz fails while the upstream is unreachable', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const url = upstream.url;
  await upstream.stop();
  const gateway = await startTestGateway({ upstream: url });
  t.teardown(() => gateway.close());

  const report = await readiness(gateway.adminPort);

  t.equal(report.status, 503);
  t.equal(report.body.status, 'not_ready');
  t.equal(report.body.checks.upstream.status, 'unreachable');
  t.match(report.body.checks.upstream.error, /ECONNREFUSED/);
});

t.test('readyz reports stopping during shutdown', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  gateway.admin.readiness.markStopping();
  const report = await readiness(gateway.adminPort);

  t.equal(report.status, 503);
  t.equal(report.body.status, 'stopping');
});

t.test('healthz and readyz answer HEAD and reject POST', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const head = await send(gateway.adminPort, { method: 'HEAD', path: '/healthz' });
  const post = await send(gateway.adminPort, { method: 'POST', path: '/readyz' });
  const unknown = await send(gateway.adminPort, { path: '/nothing' });

  t.equal(head.status, 200);
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.equal(unknown.status, 404);
  t.equal(unknown.headers['content-type'], 'application/problem+json');
});

t.test('readyz reports a full login pool as degraded, not as down', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  const gateway = await startTestGateway({ upstream: upstream.url, config: { trusted_proxies: ['127.0.0.1/32'] } });
  const clients: http.ClientRequest[] = [];
  t.teardown(async () => {
    for (const client of clients) client.destroy();
    await gateway.close();
    await upstream.stop();
  });

  const before = await readiness(gateway.adminPort);
  // One account from one address each, so that no rule stops a login.
  const openLogins = 520;
  for (let index = 0; index < openLogins; index += 1) {
    const body = JSON.stringify({ username: `user${index}`, password: 'x' });
    const client = http.request({
      host: '127.0.0.1', port: gateway.port, path: '/login', method: 'POST', agent: false,
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', 'x-forwarded-for': `198.51.${index >> 8}.${index & 255}` },
    });
    client.on('error', () => {});
    client.end(body);
    clients.push(client);
  }
  const page = http.get({ host: '127.0.0.1', port: gateway.port, path: '/page', agent: false });
  page.on('error', () => {});
  clients.push(page);
  let during = await readiness(gateway.adminPort);
  const deadline = Date.now() + 10_000;
  while (during.body.checks.upstream.pools.login.queued < openLogins - 512 && Date.now() < deadline) {
    await sleep(100);
    during = await readiness(gateway.adminPort);
  }

  t.equal(before.body.status, 'ready');
  t.same(before.body.checks.upstream.pools.login, { active: 0, queued: 0, max: 512 });
  t.same(before.body.checks.upstream.pools.pass_through, { active: 0, queued: 0, max: null }, 'requests passed through have no bound');
  t.equal(during.status, 200, 'a slow app keeps the instance in rotation');
  t.equal(during.body.status, 'degraded');
  t.same(during.body.checks.upstream.pools.login, { active: 512, queued: openLogins - 512, max: 512 });
  t.same(during.body.checks.upstream.pools.pass_through, { active: 1, queued: 0, max: null }, 'a page has a connection of its own');
  t.match(during.body.notes, [/all 512 connections of the login pool/]);
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { PROJECT_ROOT, TEST_SECRET, login, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { parseMetrics } from './client.js';

// Rules keyed on the username's length, so each login's decision is known in advance:
// "blocked" (7) is blocked, "challenger" (10) is challenged, "alice" (5) is allowed and
// fires a monitor-mode rule.
const RULES = `
thresholds: { challenge_at: 50, block_at: 100 }
counters:
  - name: failures_per_account
    key: [username]
    count: failures
    window: 10m
rules:
  - id: test.length-seven
    description: Usernames of seven characters are refused
    when: user.length == 7
    action: block
  - id: test.length-ten
    description: Usernames of ten characters are stepped up
    when: user.length == 10
    score: 50
  - id: test.length-five
    description: Usernames of five characters are watched
    when: user.length == 5
    score: 10
    mode: monitor
`;

function writeRules(): string {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-metrics-'));
  writeFileSync(join(directory, 'rules.yaml'), RULES);
  return directory;
}

t.test('metrics count a known run of decisions', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { rules: [writeRules()] } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 3; index += 1) await login(gateway.port, 'alice', 'wonderland');
  for (let index = 0; index < 2; index += 1) await login(gateway.port, 'blocked', 'wonderland');
  const challenged = await login(gateway.port, 'challenger', 'wonderland');
  await waitForDecisions(gateway.logs, 6);
  t.equal(challenged.status, 401);

  const reply = await send(gateway.adminPort, { path: '/metrics' });
  const samples = parseMetrics(reply.body);

  t.equal(reply.status, 200);
  t.match(reply.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.equal(samples.get('riskgate_decisions_total{action="allow"}'), 3);
  t.equal(samples.get('riskgate_decisions_total{action="block"}'), 2);
  t.equal(samples.get('riskgate_decisions_total{action="challenge"}'), 1);
  t.equal(samples.get('riskgate_rule_matches_total{rule="test.length-seven",mode="enforce"}'), 2);
  t.equal(samples.get('riskgate_rule_matches_total{rule="test.length-ten",mode="enforce"}'), 1);
  t.equal(samples.get('riskgate_rule_matches_total{rule="test.length-five",mode="monitor"}'), 3);
  t.equal(samples.get('riskgate_decision_duration_seconds_count'), 6);
  t.equal(samples.get('riskgate_upstream_duration_seconds_count'), 3);
  t.equal(samples.get('riskgate_store_round_trips_total{operation="read"}'), 6);
  t.equal(samples.get('riskgate_store_round_trips_total{operation="write"}'), 6);
  t.equal(samples.get('riskgate_store_errors_total{operation="read"}'), 0);
  t.equal(samples.get('riskgate_rule_reloads_total{result="success"}'), 0);
  t.equal(samples.get('riskgate_rule_reloads_total{result="failure"}'), 0);
  t.equal(samples.get('riskgate_store_outage'), 0);
  t.equal(samples.get('riskgate_rules_loaded'), 3);
  t.ok(samples.has('process_cpu_user_seconds_total'), 'default process metrics are exported');
  t.ok(samples.has('nodejs_eventloop_lag_seconds'), 'default Node.js metrics are exported');
  t.notOk(reply.body.includes('alice'), 'no username appears in any label');
  t.notOk(reply.body.includes('127.0.0.1'), 'no address appears in any label');
});

t.test('metrics count step-up results', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { rules: [writeRules()] } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 2; index += 1) {
    await login(gateway.port, 'alice', 'wonderland', { headers: { 'riskgate-step-up': 'not.an.assertion' } });
  }
  await login(gateway.port, 'alice', 'wonderland');
  await waitForDecisions(gateway.logs, 3);

  const samples = parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body);
  t.equal(samples.get('riskgate_step_ups_total{result="malformed"}'), 2, 'each rejected assertion, by its reason');
  t.notOk(samples.has('riskgate_step_ups_total{result="passed"}'), 'a login without an assertion counts nowhere');
});

t.test('in-flight gauge counts open requests', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  const gateway = await startTestGateway({ upstream: upstream.url, config: { upstream_timeouts: { response: '2s' } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const pending = [login(gateway.port, 'alice', 'wonderland'), send(gateway.port, { path: '/page' })];
  await waitFor(() => upstream.requests.length === 2, 'both requests to reach the upstream');
  const during = parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body);
  upstream.behaviour = 'normal';
  const replies = await Promise.all(pending);
  await waitForDecisions(gateway.logs, 1);
  const after = parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body);

  t.equal(during.get('riskgate_requests_in_flight'), 2);
  t.equal(replies[0].status, 504);
  t.equal(after.get('riskgate_requests_in_flight'), 0);
});

t.test('gateways in one process keep separate registries', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const first = await startTestGateway({ upstream: upstream.url });
  const second = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await first.close();
    await second.close();
    await upstream.stop();
  });

  await login(first.port, 'alice', 'wonderland');
  await login(first.port, 'alice', 'wonderland');
  await waitForDecisions(first.logs, 2);
  const firstSamples = parseMetrics((await send(first.adminPort, { path: '/metrics' })).body);
  const secondSamples = parseMetrics((await send(second.adminPort, { path: '/metrics' })).body);

  t.equal(firstSamples.get('riskgate_decisions_total{action="allow"}'), 2);
  t.equal(secondSamples.get('riskgate_decisions_total{action="allow"}'), 0);
});

t.test('public port never serves the admin endpoints', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (const path of ['/metrics', '/healthz', '/readyz', '/v1/manual-entries']) {
    const reply = await send(gateway.port, { path });
    t.equal(reply.json().page, path, `${path} on the public port is the app's`);
  }
  t.equal(upstream.requests.length, 4);
  t.not(gateway.adminPort, gateway.port);
});

t.test('admin listen on the public port is rejected', async (t) => {
  const load = (raw: Record<string, unknown>) => () =>
    loadConfigObject({ upstream: 'http://127.0.0.1:3000', ...raw }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });

  t.throws(load({ listen: '127.0.0.1:8080', admin: { listen: '127.0.0.1:8080' } }), {
    message: /admin\.listen "127\.0\.0\.1:8080" uses the public port 8080/,
  });
  t.throws(load({ listen: '0.0.0.0:9090' }), { message: /uses the public port 9090/ });
  t.throws(load({ admin: { listen: 'nine-thousand' } }), { message: /admin\.listen/ });
  t.equal(load({ listen: '127.0.0.1:8080', admin: { listen: '127.0.0.2:8080' } })().admin.listen.port, 8080);
  t.same(load({})().admin.listen, { host: '127.0.0.1', port: 9090 });
});

t.test('environment sets the admin listener and token', async (t) => {
  const config = loadConfigObject({ upstream: 'http://127.0.0.1:3000' }, PROJECT_ROOT, {
    env: { RISKGATE_ADMIN_LISTEN: '127.0.0.1:9191', RISKGATE_ADMIN_TOKEN: 'x'.repeat(40) },
    secret: TEST_SECRET,
  });

  t.same(config.admin.listen, { host: '127.0.0.1', port: 9191 });
  t.equal(config.admin.token, 'x'.repeat(40));
});

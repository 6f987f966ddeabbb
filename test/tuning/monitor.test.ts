import { readFileSync, writeFileSync } from 'node:fs';

import t, { type Test } from 'tap';

import { DEFAULT_RULES, login, send, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { writeTree } from './io.js';

// A rate rule in monitor mode: from an address's third attempt within a minute, it would
// block the login with a 429.
const RULES = `thresholds: { challenge_at: 50, block_at: 100 }
counters:
  - { name: attempts_per_ip, key: [ip], count: attempts, window: 1m }
rules:
  - id: watch.burst
    description: Several attempts from one address
    when: counters.attempts_per_ip >= 2
    action: block
    retry_after: 5m
    mode: monitor
`;

async function start(t: Test, config: Record<string, unknown>): Promise<{ gateway: TestGateway; upstream: RecordingUpstream }> {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { gateway, upstream };
}

t.test('monitor rule never blocks', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const { gateway, upstream } = await start(t, { rules: [tree.path('rules.yaml')] });

  const statuses = [];
  for (let index = 0; index < 4; index += 1) statuses.push((await login(gateway.port, `user${index}`, 'wonderland')).status);
  const lines = await waitForDecisions(gateway.logs, 4);

  t.same(statuses, [200, 200, 200, 200]);
  t.equal(upstream.logins.length, 4, 'every login reached the app');
  t.same(lines.map((line) => line.riskgate.decision), ['allow', 'allow', 'allow', 'allow']);
  t.same(lines.map((line) => line.riskgate.would_decision), ['allow', 'allow', 'block', 'block']);
  t.same(lines[3].riskgate.monitor_rules, ['watch.burst']);
  t.same(lines[3].riskgate.rules, [], 'a monitor rule is not an enforced rule');
});

t.test('monitor gateway mode never blocks', async (t) => {
  const { gateway, upstream } = await start(t, { rules: [DEFAULT_RULES], mode: 'monitor' });

  const statuses = [];
  for (let index = 0; index < 12; index += 1) {
    statuses.push((await login(gateway.port, `victim${index}`, 'guess', { source: '127.0.0.9' })).status);
  }
  // A tool user agent without Accept-Language scores 55, over challenge_at.
  const tool = await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { 'user-agent': 'python-requests/2.31', accept: '*/*', 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'wonderland' }),
  });
  const lines = await waitForDecisions(gateway.logs, 13);

  t.same(statuses, Array(12).fill(401), 'the app, not riskgate, rejected each wrong password');
  t.equal(tool.status, 200);
  t.equal(upstream.logins.length, 13);
  t.same(new Set(lines.map((line) => line.riskgate.decision)), new Set(['allow']));
  t.same(lines.slice(0, 12).map((line) => line.riskgate.would_decision), [
    ...Array(5).fill('allow'), ...Array(5).fill('challenge'), 'block', 'block',
  ]);
  t.same(lines[11].riskgate.rules, ['stuffing.usernames-per-ip', 'spraying.failures-across-accounts'],
    'the enforce-mode rules that fired are logged');
  t.equal(lines[12].riskgate.would_decision, 'challenge');
});

t.test('monitor gateway mode logs a failed step-up and forwards the login', async (t) => {
  // During a rollout the MFA page may not exist yet, so a stale or planted assertion must
  // not stop a login that monitor mode allows.
  const { gateway, upstream } = await start(t, { rules: [DEFAULT_RULES], mode: 'monitor' });

  const forged = await login(gateway.port, 'alice', 'wonderland', { headers: { 'riskgate-step-up': 'not-a-jwt' } });
  const [line] = await waitForDecisions(gateway.logs, 1);

  t.equal(forged.status, 200, 'the login reaches the app');
  t.equal(upstream.logins.length, 1);
  t.equal(line.riskgate.decision, 'allow');
  t.equal(line.riskgate.would_decision, 'allow', 'the rules alone would allow it');
  t.same(line.riskgate.step_up, { ok: false, reason: 'malformed' }, 'the line shows the failed step-up');
});

t.test('monitor to enforce is one line', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const { gateway } = await start(t, { rules: [tree.path('rules.yaml')] });
  for (let index = 0; index < 3; index += 1) await login(gateway.port, `first${index}`, 'wonderland');

  const enforced = RULES.replace('    mode: monitor\n', '');
  writeFileSync(tree.path('rules.yaml'), enforced);
  const result = gateway.reload();
  const blocked = await login(gateway.port, 'after', 'wonderland');
  const lines = await waitForDecisions(gateway.logs, 4);

  const removed = RULES.split('\n').filter((line) => !enforced.split('\n').includes(line));
  t.same(removed, ['    mode: monitor'], 'the two files differ in one line');
  t.equal(readFileSync(tree.path('rules.yaml'), 'utf8').split('\n').length, RULES.split('\n').length - 1);
  t.equal(result.outcome, 'reloaded');
  t.equal(lines[2].riskgate.decision, 'allow');
  t.equal(lines[2].riskgate.would_decision, 'block');
  t.equal(blocked.status, 429);
  t.equal(blocked.headers['retry-after'], '300');
  t.equal(lines[3].riskgate.decision, 'block');
  t.same(lines[3].riskgate.rules, ['watch.burst']);
  t.equal(lines[3].riskgate.rule_set, result.version);
});

// A tool user agent without Accept-Language scores 55, over the bundled challenge_at.
const TOOL_HEADERS = { 'user-agent': 'python-requests/2.31', accept: '*/*', 'content-type': 'application/json' };

t.test('monitor would-be challenge teaches nothing', async (t) => {
  const { gateway, upstream } = await start(t, { rules: [DEFAULT_RULES], mode: 'monitor' });

  const tool = await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: TOOL_HEADERS,
    body: JSON.stringify({ username: 'alice', password: 'wonderland' }),
  });
  const browser = await login(gateway.port, 'alice', 'wonderland');
  const lines = await waitForDecisions(gateway.logs, 2);

  t.equal(tool.status, 200, 'the app accepted the password');
  t.equal(upstream.logins.length, 2);
  t.equal(lines[0].riskgate.decision, 'allow');
  t.equal(lines[0].riskgate.would_decision, 'challenge');
  t.equal(lines[0].event.outcome, 'success');
  t.equal(lines[0].riskgate.learned, false, 'the line says the success taught nothing');
  t.equal(lines[1].riskgate.learned, true, 'and that the would-be allow taught the profile');
  t.equal(tool.headers['set-cookie'], undefined, 'the would-be challenge earns no device cookie');
  t.equal(lines[1].riskgate.signals.account.first_login, true, 'and taught the profile nothing');
  t.equal(lines[1].riskgate.signals.account.successes, 0);
  t.ok(browser.headers['set-cookie']?.some((value) => value.startsWith('__Host-rg_device=')), 'a would-be allow earns one');
});

t.test('monitor rule would-be block teaches nothing', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const { gateway } = await start(t, { rules: [tree.path('rules.yaml')] });

  const replies = [];
  for (let index = 0; index < 3; index += 1) replies.push(await login(gateway.port, 'alice', 'wonderland'));
  // Another address, under the burst rule's count, reads what the profile learned.
  const cookie = replies[0].headers['set-cookie']?.find((value) => value.startsWith('__Host-rg_device='))?.split(';')[0];
  await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.5', headers: cookie ? { cookie } : {} });
  const lines = await waitForDecisions(gateway.logs, 4);

  t.same(lines.slice(0, 3).map((line) => line.riskgate.would_decision), ['allow', 'allow', 'block']);
  t.same(lines.slice(0, 3).map((line) => line.riskgate.learned), [true, true, false], 'each line says whether it taught');
  t.same(replies.map((reply) => reply.status), [200, 200, 200], 'the monitor rule blocked nothing');
  t.same(replies.map((reply) => reply.headers['set-cookie'] !== undefined), [true, true, false],
    'only the would-be allows earn a device cookie');
  t.equal(lines[3].riskgate.signals.account.successes, 2, 'only the would-be allows taught the profile');
  t.equal(lines[3].riskgate.signals.account.known_device, true, 'which learned their device');
});

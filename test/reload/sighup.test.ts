import t from 'tap';

import { login } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { spawnGateway, type GatewayProcess } from '../ops/process.js';
import { EXPECTED, FileTree, SET_A, SET_B } from './helpers.js';

function reloadLine(gateway: GatewayProcess, outcome: 'success' | 'failure', index: number): Record<string, any> | undefined {
  return gateway.lines.filter((line) => line.event?.action === 'rules-reload' && line.event.outcome === outcome)[index];
}

/** Log in once and return the login's decision line; logins here run one at a time. */
async function decisionFor(gateway: GatewayProcess, username: string): Promise<Record<string, any>> {
  const decisions = () => gateway.lines.filter((line) => line.message === 'login decision');
  const before = decisions().length;
  await login(Number(new URL(gateway.url).port), username, 'wonderland');
  await waitFor(() => decisions().length > before, `the decision line of ${username}`, 5000);
  return decisions()[before];
}

t.test('SIGHUP reloads a spawned riskgate start', async (t) => {
  const tree = new FileTree();
  tree.replace('rules/policy.yaml', SET_A);
  const upstream = await new RecordingUpstream().start();
  // With watching off, only the signal can reload.
  const gateway = await spawnGateway({
    upstream: upstream.url,
    rules: [tree.path('rules')],
    config: 'reload: { watch: false }',
  });
  t.teardown(async () => {
    gateway.child.kill('SIGKILL');
    await upstream.stop();
    tree.remove();
  });
  const started = gateway.lines.find((line) => line.message === 'riskgate started')!;

  tree.replace('rules/policy.yaml', SET_B);
  const unsignalled = await decisionFor(gateway, 'before-signal');
  gateway.child.kill('SIGHUP');
  await waitFor(() => reloadLine(gateway, 'success', 0) !== undefined, 'the reload line', 5000);
  const reloaded = reloadLine(gateway, 'success', 0)!;
  const signalled = await decisionFor(gateway, 'after-signal');

  t.equal(unsignalled.riskgate.rule_set, started.riskgate.rule_set, 'an unwatched edit waits for the signal');
  t.same(unsignalled.riskgate.rules, EXPECTED.a.rules);
  t.equal(reloaded.riskgate.reload.trigger, 'SIGHUP');
  t.equal(reloaded.riskgate.previous_rule_set, started.riskgate.rule_set);
  t.equal(signalled.riskgate.rule_set, reloaded.riskgate.rule_set);
  t.same(signalled.riskgate.rules, EXPECTED.b.rules);

  tree.replace('rules/policy.yaml', SET_A.replace('count: attempts', 'count: attempt'));
  gateway.child.kill('SIGHUP');
  await waitFor(() => reloadLine(gateway, 'failure', 0) !== undefined, 'the rejection line', 5000);
  const rejected = reloadLine(gateway, 'failure', 0)!;
  const afterRejection = await decisionFor(gateway, 'after-rejection');

  t.equal(rejected.riskgate.reload.errors[0], `${tree.path('rules/policy.yaml')}:3:43: counters.0.count must be one of attempts, failures, unsuccessful, distinct_usernames, distinct_successful_usernames`);
  t.equal(afterRejection.riskgate.rule_set, reloaded.riskgate.rule_set, 'the last good set keeps serving');
  t.equal(gateway.child.exitCode, null, 'the process keeps running');

  gateway.child.kill('SIGTERM');
  t.same(await gateway.exited, { code: 0, signal: null });
});

import t, { type Test } from 'tap';

import { loadRuleSet } from '../../src/rules/compile.js';
import { EventReader } from '../../src/replay/read-events.js';
import { replayEvents, type ReplayResult, type ReplaySummary } from '../../src/replay/replay.js';
import { DEFAULT_USERNAME_NORMALIZATION } from '../../src/request/username.js';
import { BROWSER_HEADERS, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { writeTree } from './io.js';

const RULES = `thresholds:
  challenge_at: 50
  block_at: 100
counters:
  - name: unsuccessful_per_account
    key: [username]
    count: unsuccessful
    window: 15m
rules:
  - id: bruteforce.account-unsuccessful
    description: Logins for one account that did not succeed
    when: counters.unsuccessful_per_account >= 3
    score: 50
`;

/** Replay a gateway's log text under the rule file at `rulePath`, and return the summary and each result. */
async function replayLog(t: Test, log: string, rulePath: string): Promise<{ summary: ReplaySummary; results: ReplayResult[] }> {
  const logTree = writeTree({ 'decisions.log': log });
  t.teardown(logTree.remove);
  const reader = new EventReader([logTree.path('decisions.log')], {
    csv: { username: DEFAULT_USERNAME_NORMALIZATION, defaultRoute: 'route-1', challengeMode: 'step-up' },
  });
  const results: ReplayResult[] = [];
  const summary = await replayEvents(reader.events(), {
    ruleSet: loadRuleSet([rulePath]),
    onEvent: (_event, result) => results.push(result),
  });
  return { summary, results };
}

t.test('replay skips unchecked logins like live', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  // The app returns 200 for a login without a password, like an identifier-first step.
  upstream.responder = (request, response) => {
    if (JSON.parse(request.body.toString('utf8')).password !== undefined) return false;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"next":"password"}');
    return true;
  };
  const gateway = await startTestGateway({ upstream: upstream.url, config: { rules: [tree.path('rules.yaml')] } });
  t.teardown(() => gateway.close());

  const attempt = async (body: Record<string, string>): Promise<void> => {
    const count = gateway.logs.decisions.length;
    await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).catch(() => undefined);
    await waitForDecisions(gateway.logs, count + 1);
  };
  for (let index = 0; index < 3; index += 1) await attempt({ username: 'alice' });
  upstream.behaviour = 'reset';
  await attempt({ username: 'alice', password: 'guess' });
  upstream.behaviour = 'normal';
  await attempt({ username: 'alice', password: 'guess' });
  await attempt({ username: 'alice', password: 'wonderland' });

  const live = gateway.logs.decisions.map((line) => line.riskgate);
  t.same(live.slice(0, 3).map((entry) => entry.outcome_reason), ['no_password', 'no_password', 'no_password'], 'app answered without a password check');
  t.equal(live[3].upstream_error, 'reset', 'app sent no answer');
  t.same(live.map((entry) => entry.counters.unsuccessful_per_account), [0, 0, 0, 0, 0, 1], 'live counts only the checked failure');

  const { summary, results } = await replayLog(t, gateway.logs.text, tree.path('rules.yaml'));

  t.equal(summary.events, 6);
  t.equal(summary.counterMismatches, 0, summary.counterMismatchExamples.join('\n'));
  t.same(results.map((result) => result.counters.unsuccessful_per_account), [0, 0, 0, 0, 0, 1], 'replay counts as live did');
});

t.test('replay keeps long plain usernames apart', async (t) => {
  const rules = `thresholds:
  challenge_at: 50
  block_at: 100
counters:
  - name: usernames_per_ip
    key: [ip]
    count: distinct_usernames
    window: 10m
rules:
  - id: stuffing.usernames-per-ip
    description: Several usernames from one address
    when: counters.usernames_per_ip >= 100
    score: 50
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  const gateway = await startTestGateway({ upstream: upstream.url, config: { rules: [tree.path('rules.yaml')], log: { username: 'plain' } } });
  t.teardown(() => gateway.close());

  // The log cuts a value at 256 characters, so these two names are logged alike.
  const shared = 'a'.repeat(300);
  for (const [index, name] of [`${shared}1`, `${shared}2`, `${shared}3`].entries()) {
    await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ username: name, password: 'guess' }),
    });
    await waitForDecisions(gateway.logs, index + 1);
  }
  const live = gateway.logs.decisions.map((line) => line.riskgate.counters.usernames_per_ip);
  t.same(live, [0, 1, 2], 'live counts three accounts');
  t.equal(gateway.logs.decisions[0].user.name.length, 256, 'the logged name is cut');

  const { results } = await replayLog(t, gateway.logs.text, tree.path('rules.yaml'));
  t.same(results.map((result) => result.counters.usernames_per_ip), live, 'replay counts them as live did');
});

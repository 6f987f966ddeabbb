import t, { type Test } from 'tap';

import { runExplain } from '../../src/cli/explain.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { EventReader } from '../../src/replay/read-events.js';
import { replayEvents } from '../../src/replay/replay.js';
import { DEFAULT_USERNAME_NORMALIZATION } from '../../src/request/username.js';
import { DEFAULT_RULES, login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { COUNTER_HEADER, captureOutput, writeTree } from './io.js';

const RULES = `${COUNTER_HEADER}rules:
  - id: automation.tool
    description: Tool user agent
    when: ua.automation
    score: 30
  - id: velocity.rising
    description: Some attempts
    when: counters.hits >= 5 && !request.has_accept_language
    score: 30
  - id: velocity.block
    description: Many attempts
    when: counters.hits >= 60
    action: block
  - id: shadow.country
    description: Logins from one country, watched before enforcing
    when: geo.country == "NL"
    score: 100
    mode: monitor
`;

const READ_OPTIONS = { csv: { username: DEFAULT_USERNAME_NORMALIZATION, defaultRoute: 'route-1', challengeMode: 'step-up' as const } };

function fixture(t: Test, event: unknown) {
  const tree = writeTree({ 'rules.yaml': RULES, 'event.json': JSON.stringify(event) });
  t.teardown(tree.remove);
  return tree;
}

t.test('explain prints a table for an event file', async (t) => {
  const tree = fixture(t, { signals: { ua: { automation: true }, request: { has_accept_language: false } }, counters: { hits: 7 } });
  const output = captureOutput();

  const status = await runExplain({ rules: tree.path('rules.yaml') }, [tree.path('event.json')], output.io);
  const lines = output.lines();

  t.equal(status, 0);
  t.match(lines[0], /^rule set [0-9a-f]{12} \(.*rules\.yaml\)$/);
  t.match(lines[1], /^RULE +MODE +FIRED +SCORE +ACTION +READ$/);
  t.match(lines[2], /^automation\.tool +enforce +yes +\+30 +- +ua\.automation = true$/);
  t.match(lines[3], /^velocity\.rising +enforce +yes +\+30 +- +counters\.hits = 7, request\.has_accept_language = false$/);
  t.match(lines[4], /^velocity\.block +enforce +no +0 +block +counters\.hits = 7$/);
  t.match(lines[5], /^shadow\.country +monitor +no +100 +- +geo\.country = "GB"$/);
  t.equal(lines[6], 'score 60 (challenge_at 50, block_at 100)');
  t.equal(lines[7], 'decision: challenge (score 60 is at or above challenge_at 50)');
});

t.test('explain --json lists reads and contributions', async (t) => {
  const tree = fixture(t, { signals: { geo: { country: 'NL' } }, counters: { hits: 60 } });
  const output = captureOutput();

  const status = await runExplain({ rules: tree.path('rules.yaml'), json: true }, [tree.path('event.json')], output.io);
  const result = JSON.parse(output.out());

  t.equal(status, 0);
  t.equal(result.decision, 'block');
  t.equal(result.would_decision, 'block');
  t.equal(result.score, 0);
  t.equal(result.would_score, 100);
  t.same(result.thresholds, { challenge_at: 50, block_at: 100 });
  t.equal(result.reason, 'rule velocity.block has action block');
  t.same(result.rules[2], { id: 'velocity.block', mode: 'enforce', fired: true, score: 0, contribution: 0, action: 'block', reads: { 'counters.hits': 60 } });
  t.same(result.rules[3], { id: 'shadow.country', mode: 'monitor', fired: true, score: 100, contribution: 0, reads: { 'geo.country': 'NL' } });
});

t.test('explain names a monitor rule that would change the decision', async (t) => {
  const tree = fixture(t, { signals: { geo: { country: 'NL' } } });
  const output = captureOutput();

  const status = await runExplain({ rules: tree.path('rules.yaml') }, [tree.path('event.json')], output.io);

  t.equal(status, 0);
  t.equal(output.lines()[7], 'decision: allow (score 0 is below challenge_at 50; with the monitor-mode rules shadow.country enforced it would be block)');
});

t.test('explain reads a decision log line on stdin', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  await login(gateway.port, 'alice', 'wonderland', { headers: { 'user-agent': 'curl/8.5.0', 'accept-language': '' } });
  const [line] = await waitForDecisions(gateway.logs, 1);
  const output = captureOutput(`${JSON.stringify({ message: 'riskgate started' })}\n${JSON.stringify(line)}\n`);

  const status = await runExplain({ rules: DEFAULT_RULES, json: true }, [], output.io);
  const result = JSON.parse(output.out());

  t.equal(status, 0);
  t.equal(result.rule_set, line.riskgate.rule_set, 'same rule set as live');
  t.equal(result.decision, line.riskgate.decision);
  t.equal(result.score, line.riskgate.score);
  t.same(result.rules.filter((rule: any) => rule.fired && rule.mode === 'enforce').map((rule: any) => rule.id), line.riskgate.rules);
  t.same(result.recorded, { decision: line.riskgate.decision, rules: line.riskgate.rules, ruleSet: line.riskgate.rule_set, stepUpOk: false, stepUpRejected: false });
  t.equal(result.rules.find((rule: any) => rule.id === 'automation.tool-user-agent').reads['ua.automation'], true);
});

t.test('explain shows IP list results', async (t) => {
  const rules = `lists: { tor: tor.txt }
${RULES}  - id: network.tor
    description: Listed Tor exit
    when: ip.in_list("tor") && ua.automation
    score: 30
`;
  const tree = writeTree({ 'rules.yaml': rules, 'tor.txt': '192.0.2.201\n', 'event.json': JSON.stringify({ signals: { ip: { address: '192.0.2.201' } } }) });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runExplain({ rules: tree.path('rules.yaml') }, [tree.path('event.json')], output.io);

  t.equal(status, 0);
  t.match(output.lines()[6], /^network\.tor +enforce +no +30 +- +ip\.address = "192\.0\.2\.201", ip\.in_list\("tor"\) = true, ua\.automation = false$/);
});

t.test('explain uses the config gateway mode', async (t) => {
  const tree = writeTree({
    'riskgate.yaml': 'upstream: http://127.0.0.1:3000\nchallenge: { mode: forward }\nrules: [rules.yaml]\nmode: monitor\n',
    'rules.yaml': RULES,
    'event.json': JSON.stringify({ counters: { hits: 60 } }),
  });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runExplain({ config: tree.path('riskgate.yaml'), json: true }, [tree.path('event.json')], output.io);
  const result = JSON.parse(output.out());

  t.equal(status, 0);
  t.equal(result.decision, 'allow', 'monitor mode allows the login');
  t.equal(result.would_decision, 'block');
  t.equal(result.reason, 'rule velocity.block has action block; the gateway runs in monitor mode, so the login is allowed and block is only logged');
});

t.test('explain rejects unknown signals', async (t) => {
  const tree = fixture(t, { signals: { ua: { automaton: true } }, counters: { hitz: 1 } });
  const output = captureOutput();

  const status = await runExplain({ rules: tree.path('rules.yaml') }, [tree.path('event.json')], output.io);

  t.equal(status, 1);
  t.equal(output.err(), 'riskgate explain: unknown signal "ua.automaton"\nriskgate explain: unknown counter "hitz"\n');
  t.equal(output.out(), '');
});

t.test('explain rejects input that is not one event', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const cases: [string, RegExp][] = [
    ['{"signals": {', /^riskgate explain: <stdin>:1: not JSON; give a JSON object or one decision log line\n$/],
    ['{"signal": {}}', /^riskgate explain: <stdin>: unknown key "signal"; an event has only "signals" and "counters"\n$/],
    [
      '{"message":"login decision","riskgate":{"signals":{}}}\n{"message":"login decision","riskgate":{"signals":{}}}\n',
      /^riskgate explain: <stdin> holds 2 decision lines; explain takes one/,
    ],
  ];

  for (const [input, expected] of cases) {
    const output = captureOutput(input);
    const status = await runExplain({ rules: tree.path('rules.yaml') }, ['-'], output.io);
    t.equal(status, 1, input);
    t.match(output.err(), expected);
  }
});

t.test('rejected step-up is replayed and explained as recorded', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // In step-up mode, a junk assertion turns a login the rules allow into a challenge.
  const reply = await login(gateway.port, 'alice', 'wonderland', { headers: { 'riskgate-step-up': 'not.a.token' } });
  t.equal(reply.status, 401, 'the live login is challenged');
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.decision, 'challenge');
  t.same(line.riskgate.step_up, { ok: false, reason: 'malformed' });

  const explained = captureOutput(`${JSON.stringify(line)}\n`);
  t.equal(await runExplain({ rules: DEFAULT_RULES }, [], explained.io), 0);
  t.match(explained.out(), /decision: challenge \(.*; a rejected step-up assertion turned the allow into a challenge\)/);

  const tree = writeTree({ 'decisions.log': `${JSON.stringify(line)}\n` });
  t.teardown(tree.remove);
  const summary = await replayEvents(new EventReader([tree.path('decisions.log')], READ_OPTIONS).events(),
    { ruleSet: loadRuleSet([DEFAULT_RULES]), challengeMode: 'step-up' });
  t.equal(summary.changed, 0, 'replay reproduces the challenge');
  t.same(summary.matrix.challenge, { allow: 0, challenge: 1, block: 0 });
});

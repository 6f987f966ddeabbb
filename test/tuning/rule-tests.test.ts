import t from 'tap';

import { runTest } from '../../src/cli/tuning.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { runRuleTests } from '../../src/rules/run-tests.js';
import { DEFAULT_RULES } from '../helpers/gateway.js';
import { COUNTER_HEADER, captureOutput, writeTree } from './io.js';

t.test('default rule tests all pass', async (t) => {
  const results = runRuleTests(loadRuleSet([DEFAULT_RULES]));

  t.ok(results.length > 0, 'the default rules carry test cases');
  for (const result of results) {
    t.ok(result.passed, `${result.name}: ${result.differences.join('; ')}`);
  }
});

t.test('every default rule has a firing and a quiet case', async (t) => {
  const ruleSet = loadRuleSet([DEFAULT_RULES]);
  const passed = new Set(runRuleTests(ruleSet).filter((result) => result.passed).map((result) => result.name));
  const cases = ruleSet.tests.filter((test) => passed.has(test.name) && test.expect.rules !== undefined);

  for (const rule of ruleSet.rules) {
    const fires = cases.filter((test) => test.expect.rules!.includes(rule.id));
    const quiet = cases.filter((test) => !test.expect.rules!.includes(rule.id));
    t.ok(fires.length > 0, `${rule.id} (${rule.file}:${rule.line}) has a passing case where it fires`);
    t.ok(quiet.length > 0, `${rule.id} has a passing case that lists rules and where it does not fire`);
  }
});

const RULES = `${COUNTER_HEADER}rules:
  - id: velocity.hits-block
    description: Many attempts
    when: counters.hits >= 10
    action: block
  - id: velocity.hits-rising
    description: Some attempts
    when: counters.hits >= 5 && counters.hits < 10
    score: 50
tests:
  - name: nine hits block
    signals: { counters: { hits: 9 } }
    expect: { decision: block, rules: [velocity.hits-block] }
  - name: ten hits block
    signals: { counters: { hits: 10 } }
    expect: { decision: block, rules: [velocity.hits-block] }
  - name: typo in a signal
    signals: { ua: { automaton: true } }
    expect: { decision: allow }
  - name: unknown rule id
    expect: { decision: allow, rules: [velocity.hits-blocks] }
`;

t.test('failing case shows decision and rule differences', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runTest({}, [tree.path('rules.yaml')], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /^FAIL nine hits block {2}\(.*rules\.yaml:19\)$/);
  t.equal(lines[1], '       decision  expected block, got challenge (score 50; challenge_at 50, block_at 100)');
  t.equal(lines[2], '       missing   velocity.hits-block  when: counters.hits >= 10  read: counters.hits = 9');
  t.equal(lines[3], '       extra     velocity.hits-rising  when: counters.hits >= 5 && counters.hits < 10  read: counters.hits = 9');
  t.match(lines[4], /^ok {3}ten hits block {2}\(/);
  t.match(lines[5], /^FAIL typo in a signal/);
  t.equal(lines[6], '       invalid   unknown signal "ua.automaton"');
  t.match(lines[7], /^FAIL unknown rule id/);
  t.equal(lines[8], '       invalid   expect.rules names "velocity.hits-blocks", but no rule has that id');
  t.equal(lines[9], '1 passed, 3 failed');
  t.equal(lines.length, 10);
});

t.test('failing case result carries expected and actual', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES });
  t.teardown(tree.remove);

  const [nine] = runRuleTests(loadRuleSet([tree.path('rules.yaml')]));

  t.equal(nine.passed, false);
  t.same(nine.expected, { decision: 'block', rules: ['velocity.hits-block'] });
  t.same(nine.actual, { decision: 'challenge', score: 50, rules: ['velocity.hits-rising'] });
});

t.test('passing rule file exits 0', async (t) => {
  const passing = RULES.slice(0, RULES.indexOf('  - name: nine hits block')) +
    '  - name: ten hits block\n    signals: { counters: { hits: 10 } }\n    expect: { decision: block, rules: [velocity.hits-block] }\n';
  const tree = writeTree({ 'rules.yaml': passing });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runTest({}, [tree.path('rules.yaml')], output.io);

  t.equal(status, 0);
  t.match(output.lines()[0], /^ok {3}ten hits block {2}\(.*rules\.yaml:19\)$/);
  t.equal(output.lines()[1], '1 passed, 0 failed');
});

t.test('invalid rule file is reported before any case runs', async (t) => {
  const tree = writeTree({ 'rules.yaml': RULES.replace('counters.hits >= 10', 'counters.hitz >= 10') });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runTest({}, [tree.path('rules.yaml')], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /rules\.yaml:12:20: rule "velocity\.hits-block": invalid condition: unknown counter "hitz"/);
  t.equal(lines[1], 'rule files are invalid; fix the problems above first');
});

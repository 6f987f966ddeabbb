import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { loadRuleSet, type RuleSet } from '../../src/rules/compile.js';
import { evaluateRules } from '../../src/rules/evaluate.js';
import { toSignalValues } from '../../src/signals/catalog.js';

const directory = mkdtempSync(join(tmpdir(), 'riskgate-evaluate-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

// Each rule fires when its counter is 1 or more, so a case picks its rules by counters.
const RULES = `
thresholds: { challenge_at: 50, block_at: 100 }
counters:
${['s40', 's60', 'allow', 'block', 'challenge', 'rate', 'watch', 'zero']
  .map((name) => `  - { name: ${name}, key: [ip], count: attempts, window: 1m }`)
  .join('\n')}
rules:
  - { id: t.s40, description: d, when: counters.s40 >= 1, score: 40 }
  - { id: t.s60, description: d, when: counters.s60 >= 1, score: 60 }
  - { id: t.allow, description: d, when: counters.allow >= 1, action: allow }
  - { id: t.block, description: d, when: counters.block >= 1, action: block }
  - { id: t.challenge, description: d, when: counters.challenge >= 1, action: challenge }
  - { id: t.rate, description: d, when: counters.rate >= 1, score: 100, retry_after: 90s }
  - { id: t.watch, description: d, when: counters.watch >= 1, action: block, mode: monitor }
  - { id: t.divide, description: d, when: counters.s40 / counters.zero > 1, score: 1 }
`;
const file = join(directory, 'rules.yaml');
writeFileSync(file, RULES);
const ruleSet: RuleSet = loadRuleSet([file]);

function evaluate(counters: Record<string, number>, mode: 'enforce' | 'monitor' = 'enforce') {
  const names = ruleSet.counters.map((counter) => counter.name);
  const { signals, counters: values } = toSignalValues({ counters }, names);
  return evaluateRules(ruleSet, signals, values, mode);
}

t.test('scores add up against the thresholds', async (t) => {
  t.equal(evaluate({}).decision, 'allow');
  t.equal(evaluate({ s40: 1, zero: 1 }).decision, 'allow', '40 is below challenge_at');
  t.equal(evaluate({ s60: 1 }).decision, 'challenge', '60 reaches challenge_at');
  const both = evaluate({ s40: 1, s60: 1, zero: 1 });
  t.equal(both.decision, 'block', '40 + 60 reaches block_at');
  t.equal(both.score, 100);
  t.same(both.fired.sort(), ['t.s40', 't.s60']);
});

t.test('block action beats allow action', async (t) => {
  const evaluation = evaluate({ allow: 1, block: 1 });

  t.equal(evaluation.decision, 'block');
  t.equal(evaluation.retryAfterMs, undefined, 'a block without a rate rule answers 403');
});

t.test('allow action beats the score', async (t) => {
  t.equal(evaluate({ allow: 1, s40: 1, s60: 1, zero: 1 }).decision, 'allow');
});

t.test('challenge action raises an allow only', async (t) => {
  t.equal(evaluate({ challenge: 1 }).decision, 'challenge', 'raises allow');
  t.equal(evaluate({ challenge: 1, s40: 1, s60: 1, zero: 1 }).decision, 'block', 'never lowers a block');
});

t.test('rate rule behind a block sets Retry-After', async (t) => {
  const evaluation = evaluate({ rate: 1 });

  t.equal(evaluation.decision, 'block');
  t.equal(evaluation.retryAfterMs, 90_000);
});

t.test('rate rule beside an action block still sets Retry-After', async (t) => {
  t.equal(evaluate({ rate: 1, block: 1 }).retryAfterMs, 90_000);
});

t.test('monitor-mode rule only changes the would-be decision', async (t) => {
  const evaluation = evaluate({ watch: 1 });

  t.equal(evaluation.decision, 'allow');
  t.equal(evaluation.wouldDecision, 'block');
  t.same(evaluation.fired, []);
  t.same(evaluation.monitored, ['t.watch']);
});

t.test('monitor gateway mode allows everything', async (t) => {
  const evaluation = evaluate({ block: 1, rate: 1 }, 'monitor');

  t.equal(evaluation.decision, 'allow');
  t.equal(evaluation.wouldDecision, 'block');
  t.equal(evaluation.retryAfterMs, undefined);
});

t.test('rule that fails at run time does not fire', async (t) => {
  const evaluation = evaluate({ s40: 1, zero: 0 });
  const outcome = evaluation.outcomes.find((entry) => entry.rule.id === 't.divide');

  t.equal(outcome?.fired, false);
  t.type(outcome?.error, 'string', 'the error is kept for the log');
  t.equal(evaluation.decision, 'allow', 'the other rules still decide');
  t.same(evaluation.fired, ['t.s40']);
});

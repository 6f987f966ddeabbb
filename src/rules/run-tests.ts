import type { RuleSet } from './compile.js';
import { evaluateRules } from './evaluate.js';
import { formatReads, valuesRead } from './explain.js';
import type { Decision } from './types.js';
import { toSignalValues } from '../signals/catalog.js';

export interface RuleTestResult {
  name: string;
  file: string;
  line: number;
  passed: boolean;
  expected: { decision: Decision; rules?: readonly string[] };
  /** What the rules did; absent when the case's signals were invalid. */
  actual?: { decision: Decision; score: number; rules: string[] };
  /** What differed from the expectation, one line each, labelled `decision`, `missing`, `extra` or `invalid`. */
  differences: string[];
}

/**
 * Run every `tests:` case of a rule set: the case's signals are laid over an ordinary
 * browser login, every rule is evaluated, and the decision and the fired rule ids (enforced
 * and monitored) are compared with the expectation. A rule that should have fired but did
 * not, or fired but should not have, is shown with its condition and the values it read.
 */
export function runRuleTests(ruleSet: RuleSet): RuleTestResult[] {
  const counterNames = ruleSet.counters.map((counter) => counter.name);
  const ruleIds = new Set(ruleSet.rules.map((rule) => rule.id));
  const { challengeAt, blockAt } = ruleSet.thresholds;

  return ruleSet.tests.map((test) => {
    const { signals, counters, problems } = toSignalValues(test.signals, counterNames);
    const differences = problems.map((problem) => `invalid   ${problem}`);
    const result: RuleTestResult = {
      name: test.name,
      file: test.file,
      line: test.line,
      passed: false,
      expected: test.expect,
      differences,
    };
    for (const id of test.expect.rules ?? []) {
      if (!ruleIds.has(id)) differences.push(`invalid   expect.rules names "${id}", but no rule has that id`);
    }
    if (problems.length > 0) return result;

    const evaluation = evaluateRules(ruleSet, signals, counters);
    const fired = [...evaluation.fired, ...evaluation.monitored].sort();
    result.actual = { decision: evaluation.wouldDecision, score: evaluation.wouldScore, rules: fired };

    if (evaluation.wouldDecision !== test.expect.decision) {
      differences.push(
        `decision  expected ${test.expect.decision}, got ${evaluation.wouldDecision} ` +
          `(score ${evaluation.wouldScore}; challenge_at ${challengeAt}, block_at ${blockAt})`,
      );
    }
    if (test.expect.rules) {
      const expected = new Set(test.expect.rules);
      for (const outcome of evaluation.outcomes) {
        const id = outcome.rule.id;
        const label = outcome.fired && !expected.has(id) ? 'extra    ' : !outcome.fired && expected.has(id) ? 'missing  ' : undefined;
        if (!label) continue;
        const reads = formatReads(valuesRead(outcome.rule, signals, counters, ruleSet.ipLists));
        differences.push(`${label} ${id}  when: ${outcome.rule.when.replace(/\s+/g, ' ').trim()}${reads ? `  read: ${reads}` : ''}`);
      }
    }
    for (const outcome of evaluation.outcomes) {
      if (outcome.error) differences.push(`invalid   rule ${outcome.rule.id} failed to evaluate: ${outcome.error}`);
    }

    result.passed = differences.length === 0;
    return result;
  });
}

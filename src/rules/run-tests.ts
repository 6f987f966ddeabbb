import type { RuleSet } from './compile.js';
import { evaluateRules } from './evaluate.js';
import { toSignalValues } from '../signals/catalog.js';

export interface RuleTestResult {
  name: string;
  file: string;
  line: number;
  passed: boolean;
  /** What differed from the expectation, one line each. */
  differences: string[];
}

/**
 * Run every `tests:` case of a rule set: the case's signals are laid over an ordinary
 * browser login, every rule is evaluated, and the decision and the fired rule ids (enforced
 * and monitored) are compared with the expectation.
 */
export function runRuleTests(ruleSet: RuleSet): RuleTestResult[] {
  const counterNames = ruleSet.counters.map((counter) => counter.name);
  return ruleSet.tests.map((test) => {
    const { signals, counters, problems } = toSignalValues(test.signals, counterNames);
    const differences = [...problems];

    if (problems.length === 0) {
      const evaluation = evaluateRules(ruleSet, signals, counters);
      if (evaluation.wouldDecision !== test.expect.decision) {
        differences.push(`decision: expected ${test.expect.decision}, got ${evaluation.wouldDecision} (score ${evaluation.wouldScore})`);
      }
      if (test.expect.rules) {
        const fired = [...evaluation.fired, ...evaluation.monitored].sort();
        const expected = [...test.expect.rules].sort();
        const missing = expected.filter((id) => !fired.includes(id));
        const extra = fired.filter((id) => !expected.includes(id));
        if (missing.length > 0) differences.push(`rules expected to fire but did not: ${missing.join(', ')}`);
        if (extra.length > 0) differences.push(`rules that fired but were not expected: ${extra.join(', ')}`);
      }
      for (const outcome of evaluation.outcomes) {
        if (outcome.error) differences.push(`rule ${outcome.rule.id} failed to evaluate: ${outcome.error}`);
      }
    }

    return { name: test.name, file: test.file, line: test.line, passed: differences.length === 0, differences };
  });
}

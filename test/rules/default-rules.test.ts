import t from 'tap';

import { DEFAULT_RULES } from '../helpers/gateway.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { runRuleTests } from '../../src/rules/run-tests.js';

const ruleSet = loadRuleSet([DEFAULT_RULES]);

t.test('default rule files pass their own tests', async (t) => {
  const results = runRuleTests(ruleSet);

  t.ok(results.length >= 20, `${results.length} cases ran`);
  for (const result of results) {
    t.ok(result.passed, `${result.name} (${result.file}:${result.line})`, { differences: result.differences });
  }
});

t.test('every default rule has a case that fires it', async (t) => {
  const expected = new Set(ruleSet.tests.flatMap((test) => test.expect.rules ?? []));

  for (const rule of ruleSet.rules) {
    t.ok(expected.has(rule.id), `${rule.id} is expected to fire in some case`);
  }
});

t.test('every default rule has a case that does not fire it', async (t) => {
  // The case must set a signal the rule reads, so it tests the rule's edge and not only
  // the ordinary login.
  const setsRead = (signals: Record<string, any>, path: string) => {
    const [group, field] = path.split('.');
    return signals[group]?.[field] !== undefined;
  };

  for (const rule of ruleSet.rules) {
    const misses = ruleSet.tests.filter((test) =>
      !(test.expect.rules ?? [rule.id]).includes(rule.id) && rule.reads.some((path) => setsRead(test.signals, path)));
    t.ok(misses.length > 0, `${rule.id} is expected not to fire in a case that sets a signal it reads`);
  }
});

t.test('every default rule is documented and tagged', async (t) => {
  for (const rule of ruleSet.rules) {
    t.match(rule.id, /^[a-z]+\.[a-z0-9-]+$/, `${rule.id} is namespaced`);
    t.ok(rule.description.length > 10, `${rule.id} has a description`);
    t.ok(rule.tags.length > 0, `${rule.id} has a tag`);
  }
});

t.test('default rules read declared counters only', async (t) => {
  const declared = new Set(ruleSet.counters.map((counter) => counter.name));

  for (const rule of ruleSet.rules) {
    for (const read of rule.reads.filter((path) => path.startsWith('counters.'))) {
      t.ok(declared.has(read.slice('counters.'.length)), `${rule.id} reads ${read}`);
    }
  }
});

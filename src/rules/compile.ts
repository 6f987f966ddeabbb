import { Environment } from '@marcbachmann/cel-js';
import { isScalar } from 'yaml';

import { throwProblems, type SourceProblem } from '../errors.js';
import { SIGNAL_SCHEMA } from '../signals/catalog.js';
import { readRuleSource, type RuleSource } from './load.js';
import type { CounterDefinition, RuleDefinition, RuleTestCase, Thresholds } from './types.js';

export type CelContext = Record<string, unknown>;

export interface CompiledRule extends RuleDefinition {
  evaluate: (context: CelContext) => unknown;
  /** Signal paths the condition reads, such as `counters.ip_failures`, for `explain`. */
  reads: string[];
}

/** A loaded, type-checked rule set, immutable once built, so a reload swaps it whole. */
export interface RuleSet {
  version: string;
  files: readonly string[];
  thresholds: Thresholds;
  counters: readonly CounterDefinition[];
  rules: readonly CompiledRule[];
  tests: readonly RuleTestCase[];
}

/** Build the CEL environment of the signal catalog plus the rule set's counters. */
export function buildEnvironment(counters: readonly CounterDefinition[]): Environment {
  const environment = new Environment({ homogeneousAggregateLiterals: false });
  for (const [group, fields] of Object.entries(SIGNAL_SCHEMA)) {
    environment.registerVariable({ name: group, schema: { ...fields } });
  }
  const counterFields = Object.fromEntries(counters.map((counter) => [counter.name, 'int']));
  environment.registerVariable({ name: 'counters', schema: counterFields });
  return environment;
}

/** Read, check and compile the rule files; returns every problem instead of the first. */
export function compileRuleSource(source: RuleSource): { ruleSet?: RuleSet; problems: SourceProblem[] } {
  const problems = [...source.problems];
  const environment = buildEnvironment(source.counters);
  const rules: CompiledRule[] = [];

  source.rules.forEach((rule) => {
    const check = environment.check(rule.when);
    if (!check.valid) {
      problems.push(celProblem(source, rule, check.error));
      return;
    }
    if (check.type !== 'bool') {
      problems.push({ file: rule.file, line: rule.line, column: 5,
        message: `rule "${rule.id}": when must be a bool expression, but it is ${check.type}` });
      return;
    }
    const parsed = environment.parse(rule.when);
    rules.push({ ...rule, evaluate: parsed as (context: CelContext) => unknown, reads: readsOf(rule.when) });
  });

  if (problems.length > 0) {
    return { problems };
  }
  const ruleSet: RuleSet = Object.freeze({
    version: source.version,
    files: Object.freeze([...source.files]),
    thresholds: Object.freeze({ ...source.thresholds }),
    counters: Object.freeze(source.counters.map((counter) => Object.freeze({ ...counter }))),
    rules: Object.freeze(rules.map((rule) => Object.freeze(rule))),
    tests: Object.freeze([...source.tests]),
  });
  return { ruleSet, problems };
}

/** Load a rule set from files and directories, or throw RG_ERR_RULES_INVALID listing every problem. */
export function loadRuleSet(paths: readonly string[]): RuleSet {
  const { ruleSet, problems } = compileRuleSource(readRuleSource(paths));
  if (!ruleSet) {
    throwProblems('RG_ERR_RULES_INVALID', problems);
  }
  return ruleSet;
}

function celProblem(source: RuleSource, rule: RuleDefinition, error: unknown): SourceProblem {
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  const offset = Number((error as { node?: { pos?: number } })?.node?.pos ?? 0);
  const yaml = source.sources.get(rule.file);
  const index = source.rules.filter((other) => other.file === rule.file).indexOf(rule);
  const position = yaml?.locate(['rules', index, 'when']) ?? { line: rule.line, column: 1 };
  const node = yaml?.document.getIn(['rules', index, 'when'], true);
  const type = isScalar(node) ? node.type : undefined;
  const quoted = type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE' ? 1 : 0;
  const block = type === 'BLOCK_LITERAL' || type === 'BLOCK_FOLDED';
  const where = block
    ? { line: position.line + 1, column: 1 }
    : { line: position.line, column: position.column + quoted + offset };

  return { file: rule.file, ...where, message: `rule "${rule.id}": invalid condition: ${message}` };
}

function readsOf(expression: string): string[] {
  const found = expression.match(/\b(?:ip|geo|ua|request|user|device|counters)\.[a-z_][a-z0-9_]*/g) ?? [];
  return [...new Set(found)];
}

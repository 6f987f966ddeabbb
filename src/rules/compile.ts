import { createHash } from 'node:crypto';

import { Environment } from '@marcbachmann/cel-js';

import { throwProblems, type SourceProblem } from '../errors.js';
import { SIGNAL_SCHEMA } from '../signals/catalog.js';
import type { IpList } from '../geo/ip-lists.js';
import { registerGroupVariable } from './activation.js';
import { celProblem, celTypeProblem } from './cel-problem.js';
import { checkListReferences, loadRuleSetLists, registerIpVariable } from './ip-list-function.js';
import { checkPatternLiterals, registerRe2Matches, routeMatchesToRe2 } from './matches-function.js';
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
  /** Content hash of the rule files and the IP lists they read: 12 hex digits. */
  version: string;
  files: readonly string[];
  thresholds: Thresholds;
  counters: readonly CounterDefinition[];
  rules: readonly CompiledRule[];
  tests: readonly RuleTestCase[];
  /** The IP lists `ip.in_list` reads, loaded with the rules so a reload refreshes both. */
  ipLists: ReadonlyMap<string, IpList>;
}

export interface CompileOptions {
  /** The config's `ip_lists`: list files by name, laid over those the rule files name. */
  ipLists?: Readonly<Record<string, string>>;
}

/**
 * Build the CEL environment of the signal catalog plus the rule set's counters, with RE2
 * matching. A condition parsed here matches with JavaScript RegExp until
 * routeMatchesToRe2 has rewritten its AST.
 */
export function buildEnvironment(
  counters: readonly CounterDefinition[],
  ipLists: ReadonlyMap<string, IpList> = new Map(),
): Environment {
  const environment = new Environment({ homogeneousAggregateLiterals: false });
  registerRe2Matches(environment);
  for (const [group, fields] of Object.entries(SIGNAL_SCHEMA)) {
    if (group === 'ip') registerIpVariable(environment, fields, ipLists);
    else registerGroupVariable(environment, group, `$${group}`, fields);
  }
  const counterFields = Object.fromEntries(counters.map((counter) => [counter.name, 'int']));
  registerGroupVariable(environment, 'counters', '$counters', counterFields);
  return environment;
}

/** Read, check and compile the rule files; returns every problem instead of the first. */
export function compileRuleSource(
  source: RuleSource,
  options: CompileOptions = {},
): { ruleSet?: RuleSet; problems: SourceProblem[] } {
  const problems = [...source.problems];
  const { lists, problems: listProblems } = loadRuleSetLists(source, options.ipLists ?? {});
  problems.push(...listProblems);
  const environment = buildEnvironment(source.counters, lists);
  const rules: CompiledRule[] = [];

  source.rules.forEach((rule) => {
    const check = environment.check(rule.when);
    if (!check.valid) {
      problems.push(celProblem(source, rule, check.error));
      return;
    }
    if (check.type !== 'bool') {
      problems.push(celTypeProblem(source, rule, check.type ?? 'unknown'));
      return;
    }
    const parsed = environment.parse(rule.when);
    const referenceProblems = [
      ...checkListReferences(source, rule, parsed.ast, lists),
      ...checkPatternLiterals(source, rule, parsed.ast),
    ];
    if (referenceProblems.length > 0) {
      problems.push(...referenceProblems);
      return;
    }
    routeMatchesToRe2(parsed.ast);
    rules.push({ ...rule, evaluate: parsed as (context: CelContext) => unknown, reads: readsOf(rule.when) });
  });

  if (problems.length > 0) {
    return { problems };
  }
  const ruleSet: RuleSet = Object.freeze({
    version: ruleSetVersion(source.version, lists),
    files: Object.freeze([...source.files]),
    thresholds: Object.freeze({ ...source.thresholds }),
    counters: Object.freeze(source.counters.map((counter) => Object.freeze({ ...counter }))),
    rules: Object.freeze(rules.map((rule) => Object.freeze(rule))),
    tests: Object.freeze([...source.tests]),
    ipLists: lists,
  });
  return { ruleSet, problems };
}

/** Load a rule set from files and directories, or throw RG_ERR_RULES_INVALID listing every problem. */
export function loadRuleSet(paths: readonly string[], options: CompileOptions = {}): RuleSet {
  const { ruleSet, problems } = compileRuleSource(readRuleSource(paths), options);
  if (!ruleSet) {
    throwProblems('RG_ERR_RULES_INVALID', problems);
  }
  return ruleSet;
}

/**
 * Combine the rule files' hash with each IP list's name and content hash, so an edited
 * list gives a new version as an edited rule does. No path goes in, so a copy of the
 * files elsewhere (another host, a replay on a laptop) has the same version. Without
 * lists it stays the rule files' hash.
 */
function ruleSetVersion(rulesVersion: string, lists: ReadonlyMap<string, IpList>): string {
  if (lists.size === 0) return rulesVersion;
  const hash = createHash('sha256').update(rulesVersion);
  for (const name of [...lists.keys()].sort()) {
    const list = lists.get(name)!;
    hash.update('\u0000').update(name).update('\u0000').update(list.digest);
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * List the signal paths a condition reads, in order of appearance. A call such as
 * `ip.in_list("tor")` reads `ip.address` and is listed whole, so `explain` can show its result.
 */
function readsOf(expression: string): string[] {
  const found: string[] = [];
  const paths = /\bip\.in_list\(\s*(["'])([^"']*)\1\s*\)|\b(?:ip|geo|ua|request|user|device|account|travel|counters)\.[a-z_][a-z0-9_]*/g;
  for (const match of expression.matchAll(paths)) {
    if (match[2] !== undefined) found.push('ip.address', `ip.in_list("${match[2]}")`);
    else if (match[0] !== 'ip.in_list') found.push(match[0]);
  }
  return [...new Set(found)];
}

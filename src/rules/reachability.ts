import type { ASTNode } from '@marcbachmann/cel-js';

import type { SourceProblem } from '../errors.js';
import { SIGNAL_GROUPS, baselineSignals } from '../signals/catalog.js';
import { buildEnvironment, type CompiledRule, type RuleSet } from './compile.js';
import type { RuleSource } from './load.js';

const VARIABLES = new Set<string>([...SIGNAL_GROUPS, 'counters']);

type Constant = { value: unknown } | { error: string };

/**
 * Find rules that can never change a decision, counters no rule reads and IP lists with no
 * entries. Only what is certain is reported, so a rule that is merely unlikely to fire is
 * never listed:
 *
 * - a `when` that reads no signal or counter is constant: false never fires, and a
 *   condition that fails to evaluate never fires either;
 * - an enforced `action: allow` rule whose `when` is constant true allows every login, so
 *   every rule other than an `action: block` rule is shadowed by it;
 * - an enforced `action: block` rule whose `when` is constant true blocks every login;
 * - constant-true score rules that alone reach a threshold challenge or block every login;
 * - score rules when all positive scores together stay below `challenge_at`;
 * - IP lists with no entries.
 *
 * Problems come back as warnings: `riskgate check` prints them, `start` serves the rules.
 */
export function findUnreachableRules(ruleSet: RuleSet, source: RuleSource): SourceProblem[] {
  const warnings: SourceProblem[] = [];
  const environment = buildEnvironment(ruleSet.counters, ruleSet.ipLists);
  const constants = new Map<CompiledRule, Constant>();
  for (const rule of ruleSet.rules) {
    const constant = constantValue(rule, environment.parse(rule.when).ast);
    if (constant) constants.set(rule, constant);
  }
  const at = (rule: CompiledRule, key: string, message: string) => warnings.push(locate(source, rule, key, message));
  const alwaysTrue = (rule: CompiledRule) => {
    const constant = constants.get(rule);
    return constant !== undefined && 'value' in constant && constant.value === true;
  };

  const neverFire = new Set<CompiledRule>();
  for (const [rule, constant] of constants) {
    if ('error' in constant) {
      neverFire.add(rule);
      at(rule, 'when', `rule "${rule.id}" can never fire: its condition fails on every login (${constant.error})`);
    } else if (constant.value !== true) {
      neverFire.add(rule);
      at(rule, 'when', `rule "${rule.id}" can never fire: its condition is always false; delete the rule or fix the condition`);
    }
  }

  const enforced = ruleSet.rules.filter((rule) => rule.mode === 'enforce' && alwaysTrue(rule));
  const blocker = enforced.find((rule) => rule.action === 'block');
  const allower = enforced.find((rule) => rule.action === 'allow');
  const challenger = enforced.find((rule) => rule.action === 'challenge');
  if (challenger && !blocker && !allower) {
    at(challenger, 'when', `rule "${challenger.id}" challenges every login: its condition is always true`);
  }
  if (blocker) {
    at(blocker, 'when', `rule "${blocker.id}" blocks every login: its condition is always true`);
  } else if (allower) {
    at(allower, 'when', `rule "${allower.id}" allows every login that no action: block rule blocks: its condition is always true`);
    for (const rule of ruleSet.rules) {
      if (rule === allower || rule.action === 'block' || neverFire.has(rule)) continue;
      at(rule, 'when', `rule "${rule.id}" can never change a decision: rule "${allower.id}" ` +
        `(${allower.file}:${allower.line}) allows every login first`);
    }
  }

  const { challengeAt, blockAt } = ruleSet.thresholds;
  const baseScore = enforced.filter((rule) => rule.action === undefined).reduce((total, rule) => total + rule.score, 0);
  if (!blocker && !allower && baseScore >= challengeAt) {
    const reached = baseScore >= blockAt ? `block_at (${blockAt}): every login is blocked` : `challenge_at (${challengeAt}): every login is challenged`;
    for (const rule of enforced.filter((candidate) => candidate.action === undefined && candidate.score > 0)) {
      at(rule, 'score', `rule "${rule.id}" always fires, and always-firing rules score ${baseScore}, at or above ${reached}`);
    }
  }

  const scoring = ruleSet.rules.filter((rule) => rule.action === undefined && rule.score !== 0 && !neverFire.has(rule));
  const maxScore = scoring.filter((rule) => rule.score > 0).reduce((total, rule) => total + rule.score, 0);
  if (maxScore < challengeAt) {
    for (const rule of scoring) {
      at(rule, 'score', `rule "${rule.id}" can never change a decision: all positive scores together add up to ` +
        `${maxScore}, below challenge_at (${challengeAt}); give it an action or raise the scores`);
    }
  }

  warnings.push(...unreadCounters(ruleSet));
  warnings.push(...emptyIpLists(ruleSet));
  return warnings;
}

/**
 * Warn about IP lists with no entries. A list file truncated by a failed download loads
 * as an empty list, and `ip.in_list` is then false for every address.
 */
function emptyIpLists(ruleSet: RuleSet): SourceProblem[] {
  return [...ruleSet.ipLists.values()]
    .filter((list) => list.size === 0)
    .map((list) => ({
      file: list.file,
      line: 1,
      column: 1,
      message: `IP list "${list.name}" in ${list.file} has no entries, so ip.in_list("${list.name}") is false for ` +
        'every address; restore its addresses (one address or CIDR per line), or remove the list and its rules',
    }));
}

function unreadCounters(ruleSet: RuleSet): SourceProblem[] {
  const read = new Set(ruleSet.rules.flatMap((rule) => rule.reads));
  return ruleSet.counters
    .filter((counter) => !read.has(`counters.${counter.name}`))
    .map((counter) => ({
      file: counter.file,
      line: counter.line,
      column: 5,
      message: `counter "${counter.name}" is read by no rule, yet every login reads it from the store; remove it or use it in a rule`,
    }));
}

/** Evaluate a condition that reads no signal or counter; undefined when it reads one. */
function constantValue(rule: CompiledRule, ast: ASTNode): Constant | undefined {
  if (readsVariable(ast)) return undefined;
  try {
    return { value: rule.evaluate({ ...baselineSignals(), counters: {} }) };
  } catch (error) {
    return { error: error instanceof Error ? error.message.split('\n')[0] : String(error) };
  }
}

function readsVariable(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(readsVariable);
  if (typeof node !== 'object' || node === null || !('op' in node)) return false;
  const { op, args } = node as { op: string; args: unknown };
  if (op === 'id') return typeof args === 'string' && VARIABLES.has(args);
  if (op === 'value') return false;
  return readsVariable(args);
}

function locate(source: RuleSource, rule: CompiledRule, key: string, message: string): SourceProblem {
  const yaml = source.sources.get(rule.file);
  const index = source.rules.filter((other) => other.file === rule.file).findIndex((other) => other.id === rule.id);
  const position = yaml?.locate(['rules', index, key]) ?? { line: rule.line, column: 1 };
  return { file: rule.file, ...position, message };
}

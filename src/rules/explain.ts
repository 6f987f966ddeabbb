import type { IpList } from '../geo/ip-lists.js';
import type { SignalValues } from '../signals/catalog.js';
import type { CompiledRule, RuleSet } from './compile.js';
import { evaluateRules, type Evaluation } from './evaluate.js';
import type { Decision, RuleMode } from './types.js';

/** One rule's part in a decision, for `riskgate explain` and rule-test failures. */
export interface RuleExplanation {
  id: string;
  file: string;
  line: number;
  mode: RuleMode;
  when: string;
  fired: boolean;
  error?: string;
  /** Each signal or counter the condition reads, with its value in this login. */
  reads: Record<string, string | number | boolean | null>;
  score: number;
  /** What the rule adds when it fires: its score, and its action when it has one. */
  contribution: number;
  action?: Decision;
}

export interface Explanation {
  ruleSet: string;
  thresholds: { challengeAt: number; blockAt: number };
  rules: RuleExplanation[];
  score: number;
  wouldScore: number;
  decision: Decision;
  wouldDecision: Decision;
  /** Why the decision came out as it did, in one sentence. */
  reason: string;
  evaluation: Evaluation;
}

/** Evaluate a rule set against one login and say, for each rule, what it read and added. */
export function explainLogin(
  ruleSet: RuleSet,
  signals: SignalValues,
  counters: Record<string, bigint>,
  gatewayMode: 'enforce' | 'monitor' = 'enforce',
): Explanation {
  const evaluation = evaluateRules(ruleSet, signals, counters, gatewayMode);
  const rules = evaluation.outcomes.map((outcome): RuleExplanation => ({
    id: outcome.rule.id,
    file: outcome.rule.file,
    line: outcome.rule.line,
    mode: outcome.rule.mode,
    when: outcome.rule.when,
    fired: outcome.fired,
    ...(outcome.error ? { error: outcome.error } : {}),
    reads: valuesRead(outcome.rule, signals, counters, ruleSet.ipLists),
    score: outcome.rule.score,
    contribution: outcome.fired && outcome.rule.mode === 'enforce' ? outcome.rule.score : 0,
    ...(outcome.rule.action ? { action: outcome.rule.action } : {}),
  }));

  return {
    ruleSet: ruleSet.version,
    thresholds: { ...ruleSet.thresholds },
    rules,
    score: evaluation.score,
    wouldScore: evaluation.wouldScore,
    decision: evaluation.decision,
    wouldDecision: evaluation.wouldDecision,
    reason: reasonFor(evaluation, ruleSet, gatewayMode),
    evaluation,
  };
}

/** Return the value of every path a rule's condition reads, as plain JSON. */
export function valuesRead(
  rule: CompiledRule,
  signals: SignalValues,
  counters: Record<string, bigint>,
  lists: ReadonlyMap<string, IpList>,
): Record<string, string | number | boolean | null> {
  const values: Record<string, string | number | boolean | null> = {};
  for (const path of rule.reads) {
    const listName = /^ip\.in_list\("(.*)"\)$/.exec(path)?.[1];
    if (listName !== undefined) {
      const address = signals.ip?.address;
      values[path] = typeof address === 'string' && (lists.get(listName)?.contains(address) ?? false);
      continue;
    }
    const [group, field] = path.split('.');
    const value = group === 'counters' ? counters[field] : signals[group]?.[field];
    values[path] = value === undefined ? null : typeof value === 'bigint' ? Number(value) : value;
  }
  return values;
}

/** Format read values as `path = value, ...`, strings quoted. */
export function formatReads(reads: Record<string, string | number | boolean | null>): string {
  return Object.entries(reads)
    .map(([path, value]) => `${path} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`)
    .join(', ');
}

function reasonFor(evaluation: Evaluation, ruleSet: RuleSet, gatewayMode: 'enforce' | 'monitor'): string {
  const fired = evaluation.outcomes.filter((outcome) => outcome.fired && outcome.rule.mode === 'enforce');
  const { challengeAt, blockAt } = ruleSet.thresholds;
  const named = (action: Decision) =>
    fired.filter((outcome) => outcome.rule.action === action).map((outcome) => outcome.rule.id).join(', ');

  let reason: string;
  const live = gatewayMode === 'monitor' ? evaluation.wouldDecision : evaluation.decision;
  if (named('block')) reason = `rule ${named('block')} has action block`;
  else if (named('allow')) reason = `rule ${named('allow')} has action allow, which overrides the score`;
  else if (live === 'challenge' && named('challenge') && evaluation.score < challengeAt) {
    reason = `rule ${named('challenge')} has action challenge`;
  } else if (evaluation.score >= blockAt) reason = `score ${evaluation.score} is at or above block_at ${blockAt}`;
  else if (evaluation.score >= challengeAt) reason = `score ${evaluation.score} is at or above challenge_at ${challengeAt}`;
  else reason = `score ${evaluation.score} is below challenge_at ${challengeAt}`;

  if (gatewayMode === 'monitor') {
    reason += `; the gateway runs in monitor mode, so the login is allowed and ${evaluation.wouldDecision} is only logged`;
  } else if (evaluation.wouldDecision !== evaluation.decision) {
    reason += `; with the monitor-mode rules ${evaluation.monitored.join(', ')} enforced it would be ${evaluation.wouldDecision}`;
  }
  return reason;
}

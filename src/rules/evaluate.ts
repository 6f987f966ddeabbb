import type { SignalValues } from '../signals/catalog.js';
import { buildActivation } from './activation.js';
import type { CompiledRule, RuleSet } from './compile.js';
import type { Decision } from './types.js';

export interface RuleOutcome {
  rule: CompiledRule;
  fired: boolean;
  /** Message of the run-time failure of the condition (for example a division by zero), which kept the rule from firing. */
  error?: string;
  /** Error code of that failure, such as `double_conversion_error`. It carries no signal value. */
  errorCode?: string;
}

export interface Evaluation {
  decision: Decision;
  /** What the decision would be with every monitor-mode rule enforced. */
  wouldDecision: Decision;
  score: number;
  wouldScore: number;
  /** Ids of the enforced rules that fired. */
  fired: string[];
  /** Ids of the monitor-mode rules that fired. */
  monitored: string[];
  /** Ids of the rules, enforced and monitor-mode, whose condition failed at run time. */
  errored: string[];
  /** Longest Retry-After among the rate rules behind a block, when one is behind it. */
  retryAfterMs?: number;
  outcomes: RuleOutcome[];
}

const SEVERITY: Record<Decision, number> = { allow: 0, challenge: 1, block: 2 };

/**
 * Evaluate every rule against one login's signals and counters, then map the result to a
 * decision. Precedence: a fired `action: block` rule blocks; otherwise a fired
 * `action: allow` rule allows; otherwise the higher of any fired `action: challenge` and
 * the decision the total score reaches against the thresholds.
 */
export function evaluateRules(
  ruleSet: RuleSet,
  signals: SignalValues,
  counters: Record<string, bigint>,
  gatewayMode: 'enforce' | 'monitor' = 'enforce',
): Evaluation {
  const context = buildActivation(signals, counters);
  const outcomes: RuleOutcome[] = [];
  const enforced: RuleOutcome[] = [];
  const all: RuleOutcome[] = [];
  for (const rule of ruleSet.rules) {
    const outcome = evaluateRule(rule, context);
    outcomes.push(outcome);
    if (!outcome.fired) continue;
    all.push(outcome);
    if (rule.mode === 'enforce') enforced.push(outcome);
  }

  const live = decide(enforced, ruleSet);
  const would = all.length === enforced.length ? live : decide(all, ruleSet);
  const monitored: string[] = [];
  for (const outcome of all) {
    if (outcome.rule.mode === 'monitor') monitored.push(outcome.rule.id);
  }
  const errored: string[] = [];
  for (const outcome of outcomes) {
    if (outcome.error !== undefined) errored.push(outcome.rule.id);
  }

  return {
    decision: gatewayMode === 'monitor' ? 'allow' : live.decision,
    wouldDecision: would.decision,
    score: live.score,
    wouldScore: would.score,
    fired: enforced.map((outcome) => outcome.rule.id),
    monitored,
    errored,
    retryAfterMs: gatewayMode === 'monitor' ? undefined : live.retryAfterMs,
    outcomes,
  };
}

function evaluateRule(rule: CompiledRule, context: Record<string, unknown>): RuleOutcome {
  try {
    return { rule, fired: rule.evaluate(context) === true };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { rule, fired: false, error: message, errorCode: errorCodeOf(error) };
  }
}

/**
 * Return the code of a condition's failure: cel-js and PatternError set `code` to a
 * snake_case name. Anything else is named by its class, so no message text, which can
 * quote a signal value, becomes the code.
 */
function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code)) return code;
  return error instanceof Error && /^[A-Za-z]{1,64}$/.test(error.name) ? error.name : 'unknown_error';
}

function decide(
  fired: RuleOutcome[],
  ruleSet: RuleSet,
): { decision: Decision; score: number; retryAfterMs?: number } {
  let score = 0;
  let blocks = false;
  let allows = false;
  let challenges = false;
  for (const { rule } of fired) {
    score += rule.score;
    if (rule.action === 'block') blocks = true;
    else if (rule.action === 'allow') allows = true;
    else if (rule.action === 'challenge') challenges = true;
  }
  const { challengeAt, blockAt } = ruleSet.thresholds;
  const byScore: Decision = score >= blockAt ? 'block' : score >= challengeAt ? 'challenge' : 'allow';

  let decision: Decision;
  if (blocks) decision = 'block';
  else if (allows) decision = 'allow';
  else decision = challenges && SEVERITY[byScore] < 1 ? 'challenge' : byScore;

  let retryAfterMs: number | undefined;
  if (decision === 'block') {
    // A block is a rate block (429) only when a rule with retry_after helped cause it.
    for (const outcome of fired) {
      const causes = outcome.rule.action === 'block' || (outcome.rule.action === undefined && outcome.rule.score > 0);
      if (causes && outcome.rule.retryAfterMs !== undefined) {
        retryAfterMs = Math.max(retryAfterMs ?? 0, outcome.rule.retryAfterMs);
      }
    }
  }
  return { decision, score, retryAfterMs };
}

import type { Logger } from 'pino';

import type { RuleOutcome } from '../rules/evaluate.js';

/** Default minimum time between two warn lines about the same rule, in ms. */
export const RULE_ERROR_LOG_INTERVAL_MS = 60_000;

/** Rules tracked before entries whose interval has passed are dropped. */
const MAX_TRACKED_RULES = 1024;

interface RuleLogState {
  /** When the last warn line about the rule was written, in ms since the epoch. */
  loggedAt: number;
  /** Failures of the rule since that line that got no line of their own. */
  suppressed: number;
}

/**
 * Writes a warn line when a rule's condition fails at run time, at most one per rule per
 * interval, and the next line carries the count of failures in between. A line names the
 * rule, its file and line, the error code and the login's request id. It carries no
 * signal value, because cel-js error messages can quote one, and the decision line of
 * that request id has the values.
 */
export class RuleErrorLog {
  private readonly rules = new Map<string, RuleLogState>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number,
    private readonly intervalMs = RULE_ERROR_LOG_INTERVAL_MS,
  ) {}

  /** Log the failed rules among one login's outcomes, subject to the per-rule interval. */
  report(outcomes: readonly RuleOutcome[], requestId: string, ruleSetVersion: string): void {
    const now = this.clock();
    for (const outcome of outcomes) {
      if (outcome.error === undefined) continue;
      const state = this.rules.get(outcome.rule.id);
      if (state && now - state.loggedAt < this.intervalMs) {
        state.suppressed += 1;
        continue;
      }
      this.write(outcome, requestId, ruleSetVersion, state?.suppressed ?? 0);
      this.track(outcome.rule.id, now);
    }
  }

  private write(outcome: RuleOutcome, requestId: string, ruleSetVersion: string, suppressed: number): void {
    const { rule } = outcome;
    const code = outcome.errorCode ?? 'unknown_error';
    const tail = suppressed > 0 ? `. ${suppressed} more failure(s) of this rule were not logged since its last line` : '';
    this.logger.warn(
      {
        event: { kind: 'event', category: ['configuration'], action: 'rule-error', outcome: 'failure' },
        rule: { name: rule.id },
        http: { request: { id: requestId } },
        riskgate: {
          rule_set: ruleSetVersion,
          rule_error: { code, file: rule.file, line: rule.line, when: rule.when, suppressed },
        },
      },
      `rule "${rule.id}" failed at run time with ${code}, so it did not fire${tail}`,
    );
  }

  private track(ruleId: string, now: number): void {
    if (this.rules.size >= MAX_TRACKED_RULES && !this.rules.has(ruleId)) {
      // NOTE: a dropped entry loses its count of unlogged failures; riskgate_rule_errors_total still has them.
      for (const [id, state] of this.rules) {
        if (now - state.loggedAt >= this.intervalMs) this.rules.delete(id);
      }
    }
    this.rules.set(ruleId, { loggedAt: now, suppressed: 0 });
  }
}

import type { RuleSet } from '../rules/compile.js';
import { countersToCel } from '../rules/activation.js';
import { evaluateRules } from '../rules/evaluate.js';
import type { Decision } from '../rules/types.js';
import { ReplayCounters } from './counters.js';
import type { Label, LoginEvent, LoginOutcome } from './event.js';

export const DECISIONS: readonly Decision[] = ['allow', 'challenge', 'block'];

export interface ReplayOptions {
  ruleSet: RuleSet;
  /** Gateway mode to replay in; monitor allows every login, as live. */
  mode?: 'enforce' | 'monitor';
  /** step-up answers challenges itself; forward sends them to the app, which then answers. */
  challengeMode?: 'step-up' | 'forward';
  /** Called with each event and its replayed result, in replay order. */
  onEvent?: (event: LoginEvent, result: ReplayResult) => void;
  /** Called every `progressEvery` events with the count so far. */
  onProgress?: (events: number) => void;
  progressEvery?: number;
}

export interface ReplayResult {
  decision: Decision;
  score: number;
  /** Ids of the enforced rules that fired. */
  rules: string[];
  counters: Record<string, number>;
  /** The outcome the counters learned: the recorded one only when both runs forwarded. */
  learned: LoginOutcome;
}

export interface LabelStats {
  total: number;
  /** Logins challenged or blocked, as recorded and as replayed. */
  stoppedBefore: number;
  stoppedAfter: number;
  blockedAfter: number;
}

export interface ReplaySummary {
  ruleSet: string;
  events: number;
  changed: number;
  /** Counts by recorded decision, then replayed decision. */
  matrix: Record<Decision, Record<Decision, number>>;
  /** Per rule: changed decisions where it fires now but did not, and the reverse. */
  rules: { id: string; nowFires: number; noLongerFires: number }[];
  /** Changed decisions with the same enforced rules firing: thresholds or scores moved. */
  sameRules: number;
  labels: Record<Label, LabelStats>;
  /** Events whose recorded counters differ from the recomputed ones, under an unchanged rule set. */
  counterMismatches: number;
  counterMismatchExamples: string[];
  /** Events older than one already replayed; they were replayed when read. */
  outOfOrder: number;
  elapsedMs: number;
  eventsPerSecond: number;
}

/**
 * Re-score logins under a rule set, recomputing every counter from the events alone: the
 * counters are read at each event's time before the decision and written after it, as
 * the gateway does. A login counts as an attempt always; the app's recorded outcome is
 * learned only when the login was forwarded when recorded and would be forwarded now, so a
 * login blocked live but allowed now has an unknown outcome and counts as an attempt only.
 * Events are expected in time order (see EventReader); one that is older than the last is
 * replayed at its own time and counted in `outOfOrder`.
 */
export async function replayEvents(
  events: AsyncIterable<LoginEvent> | Iterable<LoginEvent>,
  options: ReplayOptions,
): Promise<ReplaySummary> {
  const { ruleSet } = options;
  const counters = new ReplayCounters(ruleSet.counters);
  const tally = new Tally(ruleSet.version);
  const progressEvery = options.progressEvery ?? 8192;
  const started = performance.now();
  let latest = Number.NEGATIVE_INFINITY;

  const replay = (event: LoginEvent): void => {
    if (event.time < latest) tally.outOfOrder += 1;
    else latest = event.time;

    const counts = counters.read(event.parts, event.time);
    const evaluation = evaluateRules(ruleSet, event.signals, countersToCel(counts), options.mode ?? 'enforce');
    const decision = withStepUp(evaluation.decision, event, options.challengeMode ?? 'step-up');
    const forwarded = decision === 'allow' || (decision === 'challenge' && options.challengeMode === 'forward');
    const reached = forwarded && event.forwarded;
    const learned = reached ? event.outcome : 'unknown';
    counters.write(event.time, reached && event.passwordChecked !== false ? event.outcome : 'none', event.member);

    const result: ReplayResult = { decision, score: evaluation.score, rules: evaluation.fired, counters: counts, learned };
    tally.add(event, result);
    options.onEvent?.(event, result);
    if (options.onProgress && tally.events % progressEvery === 0) options.onProgress(tally.events);
  };

  // An array or generator is read without an await per event, which would queue a microtask each.
  if (Symbol.iterator in events) {
    for (const event of events) replay(event);
  } else {
    for await (const event of events) replay(event);
  }

  return tally.summary(performance.now() - started);
}

class Tally {
  events = 0;
  outOfOrder = 0;
  private changed = 0;
  private sameRules = 0;
  private counterMismatches = 0;
  private readonly examples: string[] = [];
  private readonly matrix = emptyMatrix();
  private readonly rules = new Map<string, { nowFires: number; noLongerFires: number }>();
  private readonly labels: Record<Label, LabelStats> = { attack: emptyLabel(), legitimate: emptyLabel() };

  constructor(private readonly version: string) {}

  add(event: LoginEvent, result: ReplayResult): void {
    this.events += 1;
    const before = event.recorded.decision;
    this.matrix[before][result.decision] += 1;

    if (before !== result.decision) {
      this.changed += 1;
      this.attribute(event.recorded.rules ?? [], result.rules);
    }
    if (event.label) {
      const stats = this.labels[event.label];
      stats.total += 1;
      if (before !== 'allow') stats.stoppedBefore += 1;
      if (result.decision !== 'allow') stats.stoppedAfter += 1;
      if (result.decision === 'block') stats.blockedAfter += 1;
    }
    if (event.recorded.counters && event.recorded.ruleSet === this.version) {
      this.compareCounters(event, result);
    }
  }

  summary(elapsedMs: number): ReplaySummary {
    const rules = [...this.rules].map(([id, counts]) => ({ id, ...counts }))
      .sort((a, b) => b.nowFires + b.noLongerFires - (a.nowFires + a.noLongerFires) || a.id.localeCompare(b.id));
    return {
      ruleSet: this.version,
      events: this.events,
      changed: this.changed,
      matrix: this.matrix,
      rules,
      sameRules: this.sameRules,
      labels: this.labels,
      counterMismatches: this.counterMismatches,
      counterMismatchExamples: this.examples,
      outOfOrder: this.outOfOrder,
      elapsedMs,
      eventsPerSecond: elapsedMs > 0 ? Math.round((this.events * 1000) / elapsedMs) : 0,
    };
  }

  private attribute(before: string[], after: string[]): void {
    const now = after.filter((id) => !before.includes(id));
    const gone = before.filter((id) => !after.includes(id));
    if (now.length === 0 && gone.length === 0) this.sameRules += 1;
    for (const id of now) this.entry(id).nowFires += 1;
    for (const id of gone) this.entry(id).noLongerFires += 1;
  }

  private entry(id: string): { nowFires: number; noLongerFires: number } {
    let counts = this.rules.get(id);
    if (!counts) {
      counts = { nowFires: 0, noLongerFires: 0 };
      this.rules.set(id, counts);
    }
    return counts;
  }

  private compareCounters(event: LoginEvent, result: ReplayResult): void {
    const recorded = event.recorded.counters!;
    const differing = Object.keys(result.counters).filter(
      (name) => name in recorded && recorded[name] !== result.counters[name],
    );
    if (differing.length === 0) return;
    this.counterMismatches += 1;
    if (this.examples.length < 5) {
      const detail = differing.map((name) => `${name} recorded ${recorded[name]}, replayed ${result.counters[name]}`);
      this.examples.push(`${event.origin}: ${detail.join('; ')}`);
    }
  }
}

function emptyMatrix(): Record<Decision, Record<Decision, number>> {
  const row = () => ({ allow: 0, challenge: 0, block: 0 });
  return { allow: row(), challenge: row(), block: row() };
}

function emptyLabel(): LabelStats {
  return { total: 0, stoppedBefore: 0, stoppedAfter: 0, blockedAfter: 0 };
}

/**
 * Apply a login's recorded step-up as the gateway did: a valid assertion turns a challenge
 * into allow, and in step-up mode a rejected one turns an allow into a challenge.
 */
export function withStepUp(
  decision: Decision,
  stepUp: { stepUpOk: boolean; stepUpRejected?: boolean },
  challengeMode: 'step-up' | 'forward',
): Decision {
  if (stepUp.stepUpOk && decision === 'challenge') return 'allow';
  if (stepUp.stepUpRejected && decision === 'allow' && challengeMode === 'step-up') return 'challenge';
  return decision;
}

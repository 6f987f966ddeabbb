export type Decision = 'allow' | 'challenge' | 'block';
export type RuleMode = 'enforce' | 'monitor';

/** Signals a counter can be keyed by; several together form a composite key. */
export type CounterKeyPart = 'ip' | 'ip_prefix' | 'username' | 'device' | 'fingerprint' | 'route';

/**
 * What a counter counts per key: every judged login attempt, the logins the app rejected,
 * the logins the app did not accept (failures and unknown outcomes), the distinct usernames
 * seen, or the distinct usernames of logins that succeeded.
 */
export type CounterKind = 'attempts' | 'failures' | 'unsuccessful' | 'distinct_usernames' | 'distinct_successful_usernames';

/** Tell whether a counter of this kind counts distinct usernames, stored as a HyperLogLog. */
export function isDistinctKind(kind: CounterKind): boolean {
  return kind === 'distinct_usernames' || kind === 'distinct_successful_usernames';
}

/** Tell whether a distinct-username counter of this kind adds the username of a login with this outcome. */
export function addsMember(kind: CounterKind, outcome: CountedOutcome): boolean {
  if (kind === 'distinct_usernames') return true;
  return kind === 'distinct_successful_usernames' && outcome === 'success';
}

/**
 * A login's outcome as counters count it: the app's response, or `none` when the app checked
 * no password. That is a login riskgate did not forward, one the app sent no response to,
 * and one that filled no password or asked for another action (see UnknownRedirectReason).
 */
export type CountedOutcome = 'success' | 'failure' | 'unknown' | 'none';

/** Tell whether a counter of this kind counts a login with this outcome. */
export function countsOutcome(kind: CounterKind, outcome: CountedOutcome): boolean {
  if (kind === 'failures') return outcome === 'failure';
  if (kind === 'unsuccessful') return outcome === 'failure' || outcome === 'unknown';
  return false;
}

export interface CounterDefinition {
  name: string;
  key: readonly CounterKeyPart[];
  count: CounterKind;
  windowMs: number;
  file: string;
  line: number;
}

export interface RuleDefinition {
  id: string;
  description: string;
  when: string;
  score: number;
  action?: Decision;
  /** When set, a block by this rule answers 429 with this Retry-After instead of 403. */
  retryAfterMs?: number;
  mode: RuleMode;
  tags: readonly string[];
  file: string;
  line: number;
}

export interface Thresholds {
  challengeAt: number;
  blockAt: number;
}

/** A named case in a rule file's `tests:` list. */
export interface RuleTestCase {
  name: string;
  signals: Record<string, unknown>;
  expect: { decision: Decision; rules?: readonly string[] };
  file: string;
  line: number;
}

export type Decision = 'allow' | 'challenge' | 'block';
export type RuleMode = 'enforce' | 'monitor';

/** Signals a counter can be keyed by; several together form a composite key. */
export type CounterKeyPart = 'ip' | 'ip_prefix' | 'username' | 'device' | 'fingerprint' | 'route';

/**
 * What a counter counts per key: every judged login attempt, the logins the app rejected,
 * or the distinct usernames seen.
 */
export type CounterKind = 'attempts' | 'failures' | 'distinct_usernames';

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

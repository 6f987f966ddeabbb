/**
 * The contract both counter stores implement. A decision reads every counter it needs with
 * one `read` (one Redis round trip), and the outcome writes every change with one `write`.
 * Counters use weighted two-bucket sliding windows: a window of W milliseconds keeps the
 * current bucket and the previous one, and the previous bucket counts in proportion to how
 * much of it still overlaps the last W milliseconds. An attacker therefore cannot double the
 * budget by sending at the end of one window and the start of the next.
 *
 * NOTE: rate-limiter-flexible is not used here. Its limiters consume one key per call and
 * count only points, so a decision's dozen counters, HyperLogLog distinct counts, claims
 * and profile hash could not share the one read and the one write that this contract
 * promises.
 */
export interface CounterRead {
  key: string;
  kind: 'count' | 'distinct';
  windowMs: number;
}

export interface ClaimRequest {
  /** Store key of a single-use value, such as a step-up token's `jti`. */
  key: string;
  ttlMs: number;
  /**
   * Keyed digest of the account the claim counts against, in the exact reading of its name.
   * The memory store keeps at most MAX_LIVE_CLAIMS_PER_ACCOUNT live claims per account;
   * Redis ignores it.
   */
  account?: string;
}

/**
 * Result of one claim. It is `claimed` when this request made it first, and `used` when
 * the value was claimed before and has not expired. The memory store also returns
 * `table_full` at its maximum of live claims, and `account_limit` at the account's maximum.
 */
export type ClaimOutcome = 'claimed' | 'used' | 'table_full' | 'account_limit';

/**
 * A login in flight on a counter: judged, with its outcome not yet written. Marks are kept
 * in the store, so every gateway sharing it counts the logins pending on the others.
 */
export interface PendingMark {
  /** Store key of the counter's marks (see pendingKey). */
  key: string;
  /** Id of the login, unique across the fleet. */
  id: string;
  /** Account pseudonym, on distinct-username counters: marks count once per other account. */
  member?: string;
  /** Time after which the mark lapses if its login never writes, such as after a crash. */
  ttlMs: number;
  /** The counter read, increment or distinct add the mark belongs to, which Redis runs in the same call. */
  counterKey?: string;
}

export interface ReadRequest {
  now: number;
  counters: readonly CounterRead[];
  claims: readonly ClaimRequest[];
  /**
   * Marks to place in the same round trip. Each reads how many other logins are pending on
   * its key: other logins, or other accounts when `member` is set.
   */
  pending?: readonly PendingMark[];
  /** Plain values to fetch in the same round trip, such as manual block entries. */
  lookups?: readonly string[];
  /** Hashes to fetch whole, such as an account profile. */
  hashes?: readonly string[];
  /** Sets to fetch whole, such as an account's counter index. */
  sets?: readonly string[];
}

export interface ReadResult {
  /** Sliding-window value of each counter, in request order. */
  counts: number[];
  /** Outcome of each claim, in request order. */
  claims: ClaimOutcome[];
  /** Value of each lookup key, or null when absent, in request order. */
  values: (string | null)[];
  /** Fields of each requested hash, or null when absent, in request order. */
  hashes: (Record<string, string> | null)[];
  /** Members of each requested set (empty when absent), in request order. */
  sets: string[][];
  /** Other logins, or other accounts, pending on each mark's key, in request order. */
  pending: number[];
}

export interface WriteRequest {
  now: number;
  increments: readonly { key: string; windowMs: number }[];
  distinct: readonly { key: string; member: string; windowMs: number }[];
  /** Counters to clear in both buckets, such as an account's failure streak after a success. */
  resets: readonly { key: string; windowMs: number }[];
  /** Hash fields to set; the key's expiry becomes `ttlMs` from now. */
  hashWrites?: readonly HashWrite[];
  /** Hash fields to add to, creating them at 0; the key gets no expiry. */
  hashIncrements?: readonly { key: string; field: string; by: number }[];
  hashFieldDeletes?: readonly { key: string; fields: readonly string[] }[];
  /** Members to add to sets; the key's expiry becomes `ttlMs` from now. */
  setAdds?: readonly { key: string; members: readonly string[]; ttlMs: number }[];
  /** Keys to delete outright, such as an erased account's profile. */
  deletes?: readonly string[];
  /** Marks of this login to remove, with their counter's increment or after all of them (see PendingMark). */
  pendingReleases?: readonly Omit<PendingMark, 'ttlMs'>[];
}

/**
 * One change to a list value: a JSON array of records, each with a string `id` and an
 * `expires_at` as Date.toISOString writes it. The store drops the record with `id` and every
 * expired record, appends `record` when given, and writes the list back, all in one atomic
 * step, so concurrent edits of one list never undo each other.
 */
export interface ListEdit {
  key: string;
  id: string;
  /** The record to append, as JSON; absent to remove only. */
  record?: string;
  /** Records whose `expires_at` is at or before this time are dropped. */
  now: number;
  /** The list lives at least this long from now; 0 keeps its expiry as it is. */
  ttlMs: number;
}

/**
 * Fields to set in a hash, which then expires after `ttlMs`. With `ifField`, the write is
 * skipped when the hash's field `field` no longer contains `value` ('' for absent), so a
 * write computed from an earlier read never overwrites a change made since, such as an
 * erasure.
 */
export interface HashWrite {
  key: string;
  fields: Readonly<Record<string, string>>;
  ttlMs: number;
  ifField?: { field: string; value: string };
}

export interface CounterStore {
  readonly kind: 'memory' | 'redis';
  read(request: ReadRequest): Promise<ReadResult>;
  write(request: WriteRequest): Promise<void>;
  /** Store a plain value with an expiry (for example a manual block entry). */
  setValue(key: string, value: string, ttlMs: number): Promise<void>;
  deleteValue(key: string): Promise<void>;
  /** Apply one ListEdit; returns the unexpired record with its `id` from before, as JSON, or null. */
  editList(edit: ListEdit): Promise<string | null>;
  /** Delete every key that starts with one of the given counter keys (for erasure). */
  erase(keys: readonly string[]): Promise<number>;
  /** Round trips made so far; the memory store counts calls, so tests can compare both. */
  readonly roundTrips: number;
  close(): Promise<void>;
}

/** Bucket index of `now` for a window. */
export function bucketOf(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

/** Fraction of the current bucket that has elapsed, from 0 up to (not including) 1. */
export function elapsedFraction(now: number, windowMs: number): number {
  return (now % windowMs) / windowMs;
}

/** Weighted two-bucket count: all of the current bucket plus the still-overlapping share of the previous. */
export function slidingCount(current: number, previous: number, fraction: number): number {
  return Math.round(current + previous * (1 - fraction));
}

/**
 * Weighted distinct count from the size of the current bucket and of the union of both.
 * Members seen only in the previous bucket count by its overlap, so one username seen in
 * both buckets counts once.
 */
export function slidingDistinct(current: number, union: number, fraction: number): number {
  const previousOnly = Math.max(0, union - current);
  return Math.round(current + previousOnly * (1 - fraction));
}

import type { GatewayKeys } from '../crypto/keys.js';
import { addsMember, countsOutcome, isDistinctKind, type CountedOutcome, type CounterDefinition, type CounterKeyPart } from '../rules/types.js';
import { indexMember } from '../profile/keys.js';
import { counterKey, pendingKey } from './counter-key.js';
import type { CounterRead, PendingMark, ReadRequest, ReadResult, WriteRequest } from '../store/store.js';

/** The values a login's counters are keyed by; a missing part makes its counters not apply. */
export type KeyParts = Partial<Record<CounterKeyPart, string>>;

/**
 * This login as it is marked pending on its counters until its outcome is written: its id,
 * account pseudonym, and how long the mark may stay if no write comes.
 */
export interface PendingLogin {
  id: string;
  member?: string;
  ttlMs: number;
}

/** Store keys of the login's account (see src/profile/keys.ts). */
export interface AccountKeys {
  profile: string;
  counterIndex: string;
}

type HashWrite = NonNullable<WriteRequest['hashWrites']>[number];

/** One login's counters, resolved to store keys: built before the read, reused for the write. */
export class CounterPlan {
  private readonly applicable: { counter: CounterDefinition; key: string }[] = [];
  /** Indexes in `applicable` of the counters the login is marked pending on, in mark order. */
  private marked: number[] = [];
  private login: PendingLogin | undefined;

  constructor(
    private readonly counters: readonly CounterDefinition[],
    parts: KeyParts,
    keys: GatewayKeys,
    prefix: string,
    private readonly account?: AccountKeys,
  ) {
    for (const counter of counters) {
      const values = counter.key.map((part) => parts[part]);
      if (values.some((value) => value === undefined || value === '')) continue;
      const digest = keys.counterDigest(counter.name, values as string[]);
      this.applicable.push({ counter, key: counterKey(prefix, counter.name, digest, counter.count) });
    }
  }

  /**
   * Read request for every applicable counter, plus any single-use claims. With `login`,
   * the read also marks the login pending on the counters its outcome may change (see
   * pendingMarks), and pendingCounts adds the other logins pending to the counts read.
   */
  readRequest(now: number, claims: ReadRequest['claims'] = [], login?: PendingLogin): ReadRequest {
    const counters: CounterRead[] = this.applicable.map(({ counter, key }) => ({
      key,
      kind: isDistinctKind(counter.count) ? 'distinct' : 'count',
      windowMs: counter.windowMs,
    }));
    const request: ReadRequest = { now, counters, claims, hashes: this.account ? [this.account.profile] : [] };
    if (login) request.pending = this.pendingMarks(login);
    return request;
  }

  /**
   * Add to each counter read the logins pending on it at the read. The store is read before
   * a login is forwarded and written after the app responds, so without the marks a burst of
   * concurrent guesses, spread over any number of gateways, would all read the same count.
   */
  pendingCounts(result: ReadResult): number[] {
    const counts = [...result.counts];
    this.marked.forEach((index, mark) => {
      counts[index] = (counts[index] ?? 0) + (result.pending[mark] ?? 0);
    });
    return counts;
  }

  /**
   * Mark the login on the counters it may change: one mark per login on counted counters,
   * and one per account on distinct-username counters (a login without a username changes
   * none of those).
   */
  private pendingMarks(login: PendingLogin): PendingMark[] {
    this.login = login;
    this.marked = [];
    const marks: PendingMark[] = [];
    this.applicable.forEach(({ counter, key }, index) => {
      const distinct = isDistinctKind(counter.count);
      // A login in flight may yet fail, so it does not count as a success before it has one.
      if (counter.count === 'distinct_successful_usernames') return;
      if (distinct ? login.member === undefined : !countsPending(counter)) return;
      this.marked.push(index);
      marks.push({ key: pendingKey(key), id: login.id, ttlMs: login.ttlMs, counterKey: key, ...(distinct ? { member: login.member } : {}) });
    });
    return marks;
  }

  /** The counters that apply to this login with their store keys, in read order. */
  get entries(): readonly { counter: CounterDefinition; key: string }[] {
    return this.applicable;
  }

  /** Map read counts back to counter names; counters that did not apply read 0. */
  countsByName(counts: readonly number[]): Record<string, number> {
    const byName: Record<string, number> = Object.fromEntries(this.counters.map((counter) => [counter.name, 0]));
    this.applicable.forEach(({ counter }, index) => {
      byName[counter.name] = counts[index] ?? 0;
    });
    return byName;
  }

  /**
   * Write request for a login's outcome: attempts and distinct usernames count for every
   * judged login, distinct successful usernames and failures by the app's response. A success clears
   * the failure counters keyed by both the account and the address it came from, unless
   * `clearsStreak` is false.
   */
  writeRequest(
    now: number,
    outcome: CountedOutcome,
    member: string | undefined,
    profile?: HashWrite,
    clearsStreak = true,
  ): WriteRequest {
    const increments: WriteRequest['increments'][number][] = [];
    const distinct: WriteRequest['distinct'][number][] = [];
    const resets: WriteRequest['resets'][number][] = [];

    for (const { counter, key } of this.applicable) {
      const target = { key, windowMs: counter.windowMs };
      if (counter.count === 'attempts') {
        increments.push(target);
      } else if (isDistinctKind(counter.count)) {
        if (member && addsMember(counter.count, outcome)) distinct.push({ ...target, member });
      } else if (countsOutcome(counter.count, outcome)) {
        increments.push(target);
      } else if (outcome === 'success' && clearsStreak && counter.key.includes('username') && counter.key.includes('ip')) {
        resets.push(target);
      }
    }

    const write: WriteRequest = { now, increments, distinct, resets };
    const login = this.login;
    if (login && this.marked.length > 0) {
      write.pendingReleases = this.marked.map((index) => {
        const { counter, key } = this.applicable[index];
        const distinctMark = isDistinctKind(counter.count);
        return { key: pendingKey(key), id: login.id, counterKey: key, ...(distinctMark ? { member: login.member } : {}) };
      });
    }
    if (profile) write.hashWrites = [profile];
    const indexAdd = this.indexAdd(increments, distinct);
    if (indexAdd) write.setAdds = [indexAdd];
    return write;
  }

  /**
   * The counters this write adds to that the account keys. Erasure cannot rebuild the keys of
   * those that key it together with another part (an address, a device) from the username,
   * nor those of a counter a reload has since removed or renamed. So each is recorded in the
   * account's counter index, which lives as long as its longest counter.
   */
  private indexAdd(
    increments: readonly { key: string; windowMs: number }[],
    distinct: readonly { key: string; windowMs: number }[],
  ): NonNullable<WriteRequest['setAdds']>[number] | undefined {
    if (!this.account) return undefined;
    const touched = new Set([...increments, ...distinct].map((target) => target.key));
    const members: string[] = [];
    let ttlMs = 0;
    for (const { counter, key } of this.applicable) {
      if (!counter.key.includes('username')) continue;
      // Every account counter sets the lifetime, so a short one never cuts a long one's entry.
      ttlMs = Math.max(ttlMs, 2 * counter.windowMs);
      if (touched.has(key)) members.push(indexMember(key, counter.windowMs));
    }
    return members.length > 0 ? { key: this.account.counterIndex, members, ttlMs } : undefined;
  }
}

/**
 * Return whether pending logins count toward a counter. Every pending login is an attempt,
 * and one pending on an account may turn out a failure or unknown. Failure counters not keyed by the
 * account (address, network, fingerprint) are left out, because many honest logins can be
 * in flight at once behind one shared address or browser. A burst of stuffing from one
 * address is caught by its attempts and distinct usernames instead.
 */
function countsPending(counter: CounterDefinition): boolean {
  if (counter.count === 'attempts') return true;
  return (counter.count === 'failures' || counter.count === 'unsuccessful') && counter.key.includes('username');
}

import type { GatewayKeys } from '../crypto/keys.js';
import type { CounterDefinition, CounterKeyPart } from '../rules/types.js';
import { indexMember } from '../profile/keys.js';
import { counterKey } from './counter-key.js';
import type { CounterRead, ReadRequest, WriteRequest } from '../store/store.js';

/** The values a login's counters are keyed by; a missing part makes its counters not apply. */
export type KeyParts = Partial<Record<CounterKeyPart, string>>;

/** Store keys of the login's account (see src/profile/keys.ts). */
export interface AccountKeys {
  profile: string;
  counterIndex: string;
}

type HashWrite = NonNullable<WriteRequest['hashWrites']>[number];

/** One login's counters, resolved to store keys: built before the read, reused for the write. */
export class CounterPlan {
  private readonly applicable: { counter: CounterDefinition; key: string }[] = [];

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

  /** Read request for every applicable counter, plus any single-use claims. */
  readRequest(now: number, claims: ReadRequest['claims'] = []): ReadRequest {
    const counters: CounterRead[] = this.applicable.map(({ counter, key }) => ({
      key,
      kind: counter.count === 'distinct_usernames' ? 'distinct' : 'count',
      windowMs: counter.windowMs,
    }));
    return { now, counters, claims, hashes: this.account ? [this.account.profile] : [] };
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
   * judged login; failures only when the app rejected the credentials. A success clears
   * the failure counters keyed by both the account and the address it came from.
   */
  writeRequest(
    now: number,
    outcome: 'success' | 'failure' | 'unknown',
    member: string | undefined,
    profile?: HashWrite,
  ): WriteRequest {
    const increments: WriteRequest['increments'][number][] = [];
    const distinct: WriteRequest['distinct'][number][] = [];
    const resets: WriteRequest['resets'][number][] = [];

    for (const { counter, key } of this.applicable) {
      const target = { key, windowMs: counter.windowMs };
      if (counter.count === 'attempts') {
        increments.push(target);
      } else if (counter.count === 'distinct_usernames') {
        if (member) distinct.push({ ...target, member });
      } else if (outcome === 'failure') {
        increments.push(target);
      } else if (outcome === 'success' && counter.key.includes('username') && counter.key.includes('ip')) {
        resets.push(target);
      }
    }

    const write: WriteRequest = { now, increments, distinct, resets };
    if (profile) write.hashWrites = [profile];
    const indexAdd = this.indexAdd(increments, distinct);
    if (indexAdd) write.setAdds = [indexAdd];
    return write;
  }

  /**
   * The counters this write adds to that key the account together with another part (an
   * address, a device). Erasure cannot rebuild their keys from the username, so each is
   * recorded in the account's counter index, which lives as long as its longest counter.
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
      const composite = counter.key.includes('username') && !counter.key.every((part) => part === 'username' || part === 'route');
      if (!composite) continue;
      // Every composite counter sets the lifetime, so a short one never cuts a long one's entry.
      ttlMs = Math.max(ttlMs, 2 * counter.windowMs);
      if (touched.has(key)) members.push(indexMember(key, counter.windowMs));
    }
    return members.length > 0 ? { key: this.account.counterIndex, members, ttlMs } : undefined;
  }
}

import type { GatewayKeys } from '../crypto/keys.js';
import type { CounterDefinition, CounterKeyPart } from '../rules/types.js';
import type { CounterRead, ReadRequest, WriteRequest } from '../store/store.js';

/** The values a login's counters are keyed by; a missing part makes its counters not apply. */
export type KeyParts = Partial<Record<CounterKeyPart, string>>;

/** One login's counters, resolved to store keys: built before the read, reused for the write. */
export class CounterPlan {
  private readonly applicable: { counter: CounterDefinition; key: string }[] = [];

  constructor(
    private readonly counters: readonly CounterDefinition[],
    parts: KeyParts,
    keys: GatewayKeys,
    prefix: string,
  ) {
    for (const counter of counters) {
      const values = counter.key.map((part) => parts[part]);
      if (values.some((value) => value === undefined || value === '')) continue;
      const digest = keys.counterDigest(counter.name, values as string[]);
      // The braces are a Redis Cluster hash tag: both buckets of one counter share a slot.
      this.applicable.push({ counter, key: `${prefix}:c:{${counter.name}:${digest}}` });
    }
  }

  /** Read request for every applicable counter, plus any single-use claims. */
  readRequest(now: number, claims: ReadRequest['claims'] = []): ReadRequest {
    const counters: CounterRead[] = this.applicable.map(({ counter, key }) => ({
      key,
      kind: counter.count === 'distinct_usernames' ? 'distinct' : 'count',
      windowMs: counter.windowMs,
    }));
    return { now, counters, claims };
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
  writeRequest(now: number, outcome: 'success' | 'failure' | 'unknown', member: string | undefined): WriteRequest {
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
    return { now, increments, distinct, resets };
  }
}

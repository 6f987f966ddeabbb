import type { KeyParts } from '../decision/counter-plan.js';
import { addsMember, countsOutcome, isDistinctKind, type CountedOutcome, type CounterDefinition, type CounterKeyPart } from '../rules/types.js';
import { MAX_DISTINCT_MEMBERS } from '../store/memory.js';
import { bucketOf, elapsedFraction, slidingCount, slidingDistinct } from '../store/store.js';


interface CountEntry {
  bucket: number;
  current: number;
  previous: number;
}

interface DistinctEntry {
  bucket: number;
  current: Set<string>;
  previous: Set<string>;
  /** Members of `previous` not in `current`, kept as members are added so a read is O(1). */
  previousOnly: number;
}

interface Counter {
  name: string;
  parts: readonly CounterKeyPart[];
  windowMs: number;
  count: CounterDefinition['count'];
  /** A success clears it: failure counters keyed by both the account and the address. */
  resetOnSuccess: boolean;
  entries: Map<string, CountEntry | DistinctEntry>;
}

/** Events between two sweeps of entries whose windows have passed. */
const SWEEP_EVERY = 65_536;

/**
 * The gateway's sliding-window counters, kept for replay in this process. The counting is
 * the memory store's: the same two-bucket functions from store.ts, the same cap on members
 * per bucket, and the write rules of CounterPlan. Keys are the key parts themselves and
 * members are kept as strings, instead of the store's per-key digests and per-member
 * SHA-256, which protect a live store from chosen usernames and would cost most of a
 * replay's time. The replay tests check that live decisions and counters are reproduced.
 */
export class ReplayCounters {
  private readonly counters: Counter[];
  private readonly keys: (string | undefined)[];
  private writes = 0;

  constructor(definitions: readonly CounterDefinition[]) {
    this.counters = definitions.map((definition) => ({
      name: definition.name,
      parts: definition.key,
      windowMs: definition.windowMs,
      count: definition.count,
      resetOnSuccess: definition.count !== 'attempts' && !isDistinctKind(definition.count) &&
        definition.key.includes('username') && definition.key.includes('ip'),
      entries: new Map(),
    }));
    this.keys = new Array(definitions.length);
  }

  /** Read every counter for one login at `now`; counters whose key parts are missing read 0. */
  read(parts: KeyParts, now: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (let index = 0; index < this.counters.length; index += 1) {
      const counter = this.counters[index];
      const key = keyOf(counter.parts, parts);
      this.keys[index] = key;
      const entry = key === undefined ? undefined : counter.entries.get(key);
      counts[counter.name] = entry ? valueOf(counter, entry, now) : 0;
    }
    return counts;
  }

  /** Record the login last read: attempts and members always, failures by `outcome`. */
  write(now: number, outcome: CountedOutcome, member: string | undefined): void {
    for (let index = 0; index < this.counters.length; index += 1) {
      const key = this.keys[index];
      if (key === undefined) continue;
      const counter = this.counters[index];
      if (counter.count === 'attempts' || countsOutcome(counter.count, outcome)) {
        increment(counter, key, now);
      } else if (isDistinctKind(counter.count)) {
        if (member && addsMember(counter.count, outcome)) addMember(counter, key, member, now);
      } else if (outcome === 'success' && counter.resetOnSuccess) {
        counter.entries.delete(key);
      }
    }

    this.writes += 1;
    if (this.writes % SWEEP_EVERY === 0) this.sweep(now);
  }

  /** Keys held, for tests of the sweep. */
  get size(): number {
    return this.counters.reduce((total, counter) => total + counter.entries.size, 0);
  }

  private sweep(now: number): void {
    for (const counter of this.counters) {
      const bucket = bucketOf(now, counter.windowMs);
      for (const [key, entry] of counter.entries) {
        if (entry.bucket < bucket - 1) counter.entries.delete(key);
      }
    }
  }
}

function keyOf(names: readonly CounterKeyPart[], parts: KeyParts): string | undefined {
  if (names.length === 1) {
    const value = parts[names[0]];
    return value === undefined || value === '' ? undefined : value;
  }
  let key = '';
  for (const name of names) {
    const value = parts[name];
    if (value === undefined || value === '') return undefined;
    // Length-prefixed, so no separator inside a username can make two part lists collide.
    key += `${value.length}:${value}`;
  }
  return key;
}

function valueOf(counter: Counter, entry: CountEntry | DistinctEntry, now: number): number {
  const bucket = bucketOf(now, counter.windowMs);
  const fraction = elapsedFraction(now, counter.windowMs);
  // An entry from a later bucket (an event out of order) reads 0, as in the memory store.
  const age = bucket - entry.bucket;
  if (age < 0 || age > 1) return 0;

  if (!isDistinctKind(counter.count)) {
    const count = entry as CountEntry;
    return age === 0 ? slidingCount(count.current, count.previous, fraction) : slidingCount(0, count.current, fraction);
  }
  const distinct = entry as DistinctEntry;
  if (age === 1) return slidingDistinct(0, distinct.current.size, fraction);
  return slidingDistinct(distinct.current.size, distinct.current.size + distinct.previousOnly, fraction);
}

function increment(counter: Counter, key: string, now: number): void {
  const bucket = bucketOf(now, counter.windowMs);
  const entry = counter.entries.get(key) as CountEntry | undefined;
  if (!entry) {
    counter.entries.set(key, { bucket, current: 1, previous: 0 });
    return;
  }
  if (entry.bucket !== bucket) {
    entry.previous = entry.bucket === bucket - 1 ? entry.current : 0;
    entry.current = 0;
    entry.bucket = bucket;
  }
  entry.current += 1;
}

function addMember(counter: Counter, key: string, member: string, now: number): void {
  const bucket = bucketOf(now, counter.windowMs);
  let entry = counter.entries.get(key) as DistinctEntry | undefined;
  if (!entry) {
    entry = { bucket, current: new Set(), previous: new Set(), previousOnly: 0 };
    counter.entries.set(key, entry);
  } else if (entry.bucket !== bucket) {
    entry.previous = entry.bucket === bucket - 1 ? entry.current : new Set();
    entry.current = new Set();
    entry.bucket = bucket;
    entry.previousOnly = entry.previous.size;
  }
  if (entry.current.size < MAX_DISTINCT_MEMBERS && !entry.current.has(member)) {
    entry.current.add(member);
    if (entry.previous.has(member)) entry.previousOnly -= 1;
  }
}

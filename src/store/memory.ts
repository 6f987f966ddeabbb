import { createHash } from 'node:crypto';

import {
  bucketOf,
  elapsedFraction,
  slidingCount,
  slidingDistinct,
  type CounterStore,
  type ReadRequest,
  type ReadResult,
  type WriteRequest,
} from './store.js';

/** Most members a distinct counter keeps per bucket; past it the count stays at this value. */
export const MAX_DISTINCT_MEMBERS = 256;

class CountEntry {
  constructor(
    public bucket: number,
    public current: number,
    public previous: number,
    public expiresAt: number,
  ) {}
}

class DistinctEntry {
  constructor(
    public bucket: number,
    public current: Set<number>,
    public previous: Set<number>,
    public expiresAt: number,
  ) {}
}

class ValueEntry {
  constructor(
    public value: string,
    public expiresAt: number,
  ) {}
}

class HashEntry {
  constructor(
    public fields: Map<string, string>,
    /** Infinity for a hash written only by increments, which set no expiry. */
    public expiresAt: number,
  ) {}
}

class SetEntry {
  constructor(
    public members: Set<string>,
    public expiresAt: number,
  ) {}
}

type Entry = CountEntry | DistinctEntry | ValueEntry | HashEntry | SetEntry | number;

/**
 * Counters in this process's memory, bounded by `maxEntries`: when full, the least recently
 * written key is evicted, so a flood of distinct keys cannot grow the heap without limit.
 * Entries expire two windows after their last write; a sweep removes them in batches.
 */
export class MemoryStore implements CounterStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private calls = 0;

  constructor(options: { maxEntries: number; sweepIntervalMs?: number; clock?: () => number }) {
    this.maxEntries = options.maxEntries;
    const clock = options.clock ?? Date.now;
    this.sweepTimer = setInterval(() => this.sweep(clock()), options.sweepIntervalMs ?? 30_000);
    this.sweepTimer.unref();
  }

  get roundTrips(): number {
    return this.calls;
  }

  get size(): number {
    return this.entries.size;
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    this.calls += 1;
    const counts = request.counters.map((counter) => {
      const entry = this.entries.get(counter.key);
      const fraction = elapsedFraction(request.now, counter.windowMs);
      const bucket = bucketOf(request.now, counter.windowMs);
      if (entry instanceof CountEntry) {
        const [current, previous] = alignCounts(entry, bucket);
        return slidingCount(current, previous, fraction);
      }
      if (entry instanceof DistinctEntry) {
        const [current, previous] = alignSets(entry, bucket);
        return slidingDistinct(current.size, unionSize(current, previous), fraction);
      }
      return 0;
    });

    const claimed = request.claims.map((claim) => {
      const existing = this.entries.get(claim.key);
      if (typeof existing === 'number' && existing > request.now) {
        return false;
      }
      this.put(claim.key, request.now + claim.ttlMs);
      return true;
    });

    const values = (request.lookups ?? []).map((key) => {
      const entry = this.entries.get(key);
      return entry instanceof ValueEntry && entry.expiresAt > request.now ? entry.value : null;
    });

    const hashes = (request.hashes ?? []).map((key) => {
      const entry = this.entries.get(key);
      return entry instanceof HashEntry && entry.expiresAt > request.now && entry.fields.size > 0
        ? Object.fromEntries(entry.fields)
        : null;
    });

    const sets = (request.sets ?? []).map((key) => {
      const entry = this.entries.get(key);
      return entry instanceof SetEntry && entry.expiresAt > request.now ? [...entry.members] : [];
    });

    return { counts, claimed, values, hashes, sets };
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    this.put(key, new ValueEntry(value, Date.now() + ttlMs));
  }

  async deleteValue(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async write(request: WriteRequest): Promise<void> {
    this.calls += 1;
    const now = request.now;

    for (const increment of request.increments) {
      const bucket = bucketOf(now, increment.windowMs);
      const existing = this.entries.get(increment.key);
      const entry = existing instanceof CountEntry ? existing : new CountEntry(bucket, 0, 0, 0);
      const [current, previous] = alignCounts(entry, bucket);
      entry.bucket = bucket;
      entry.current = current + 1;
      entry.previous = previous;
      entry.expiresAt = now + 2 * increment.windowMs;
      this.put(increment.key, entry);
    }

    for (const addition of request.distinct) {
      const bucket = bucketOf(now, addition.windowMs);
      const existing = this.entries.get(addition.key);
      const entry =
        existing instanceof DistinctEntry ? existing : new DistinctEntry(bucket, new Set(), new Set(), 0);
      const [current, previous] = alignSets(entry, bucket);
      if (current.size < MAX_DISTINCT_MEMBERS) {
        current.add(memberHash(addition.member));
      }
      entry.bucket = bucket;
      entry.current = current;
      entry.previous = previous;
      entry.expiresAt = now + 2 * addition.windowMs;
      this.put(addition.key, entry);
    }

    for (const reset of request.resets) {
      this.entries.delete(reset.key);
    }

    this.writeHashesAndSets(request);

    for (const key of request.deletes ?? []) {
      this.entries.delete(key);
    }
  }

  private writeHashesAndSets(request: WriteRequest): void {
    const now = request.now;
    const liveHash = (key: string) => {
      const entry = this.entries.get(key);
      return entry instanceof HashEntry && entry.expiresAt > now ? entry : new HashEntry(new Map(), Infinity);
    };

    for (const write of request.hashWrites ?? []) {
      const entry = liveHash(write.key);
      for (const [field, value] of Object.entries(write.fields)) entry.fields.set(field, value);
      entry.expiresAt = now + write.ttlMs;
      this.put(write.key, entry);
    }

    for (const increment of request.hashIncrements ?? []) {
      const entry = liveHash(increment.key);
      const current = Number(entry.fields.get(increment.field) ?? 0);
      entry.fields.set(increment.field, String(current + increment.by));
      this.put(increment.key, entry);
    }

    for (const removal of request.hashFieldDeletes ?? []) {
      const entry = this.entries.get(removal.key);
      if (!(entry instanceof HashEntry)) continue;
      for (const field of removal.fields) entry.fields.delete(field);
    }

    for (const addition of request.setAdds ?? []) {
      const existing = this.entries.get(addition.key);
      const entry = existing instanceof SetEntry && existing.expiresAt > now ? existing : new SetEntry(new Set(), 0);
      for (const member of addition.members) entry.members.add(member);
      entry.expiresAt = now + addition.ttlMs;
      this.put(addition.key, entry);
    }
  }

  async erase(keys: readonly string[]): Promise<number> {
    let removed = 0;
    for (const key of this.entries.keys()) {
      if (keys.some((prefix) => key.startsWith(prefix))) {
        this.entries.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.entries.clear();
  }

  /** Remove expired entries; exported for tests that drive a fake clock. */
  sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      const expiresAt = typeof entry === 'number' ? entry : entry.expiresAt;
      if (expiresAt <= now) {
        this.entries.delete(key);
      }
    }
  }

  private put(key: string, entry: Entry): void {
    // Re-inserting moves the key to the end of the Map's order, which makes the first key
    // the least recently written one.
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) {
        this.entries.delete(oldest);
      }
    }
  }
}

function alignCounts(entry: CountEntry, bucket: number): [number, number] {
  if (entry.bucket === bucket) return [entry.current, entry.previous];
  if (entry.bucket === bucket - 1) return [0, entry.current];
  return [0, 0];
}

function alignSets(entry: DistinctEntry, bucket: number): [Set<number>, Set<number>] {
  if (entry.bucket === bucket) return [entry.current, entry.previous];
  if (entry.bucket === bucket - 1) return [new Set(), entry.current];
  return [new Set(), new Set()];
}

function unionSize(current: Set<number>, previous: Set<number>): number {
  let size = current.size;
  for (const member of previous) {
    if (!current.has(member)) size += 1;
  }
  return size;
}

/** 48 bits of SHA-256: a collision between two usernames of one key is about 1 in 2^48. */
function memberHash(member: string): number {
  const digest = createHash('sha256').update(member).digest();
  return digest.readUIntBE(0, 6);
}

import {
  CountEntry,
  DistinctEntry,
  HashEntry,
  MAX_DISTINCT_MEMBERS,
  SetEntry,
  alignCounts,
  alignMembers,
  compactKey,
  memberHash,
  rollMembers,
  unionSize,
  withMember,
  type Entry,
} from './memory-entries.js';
import { ClaimTable } from './memory-claims.js';
import { PendingTable } from './memory-pending.js';
import { ValueTable } from './memory-values.js';
import {
  bucketOf,
  elapsedFraction,
  slidingCount,
  slidingDistinct,
  type CounterStore,
  type ListEdit,
  type ReadRequest,
  type ReadResult,
  type WriteRequest,
} from './store.js';
import { storeTtlMs } from './ttl.js';

export { MAX_DISTINCT_MEMBERS };

/**
 * Counters in this process's memory, bounded by `maxEntries`: when full, the least recently
 * written key is evicted (see `put` for how recent), so a flood of distinct keys cannot
 * grow the heap without limit. Plain values and single-use claims live in tables of their
 * own that are never evicted (see ValueTable and ClaimTable).
 * A counter expires two windows after the start of the bucket it was last written in, when
 * both its buckets have passed. Other entries expire at their own expiry time. A sweep
 * removes expired entries in batches.
 */
export class MemoryStore implements CounterStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  /** Single-use claims, kept apart from `entries` because they must never be evicted. */
  private readonly claims: ClaimTable;
  /** Plain values, kept apart from `entries` because a flood of counters must not evict them. */
  private readonly values = new ValueTable();
  /** Logins in flight, kept apart from `entries` because they must never be evicted. */
  private readonly pending = new PendingTable();
  /**
   * Iterator over the keys in Map order, which finds the least recently written one. A Map
   * keeps the slot of a deleted key until it next rehashes, and a fresh iterator steps over
   * every such slot from the start. Each eviction from a full store then cost up to a scan
   * of the whole store. This iterator resumes where the last eviction stopped, and every
   * slot before it is one that eviction already emptied. It is made on the first eviction
   * only, because a live iterator keeps every table the Map has outgrown since it last
   * advanced.
   */
  private evictionCursor: Iterator<string> | undefined;
  /** Entries moved to the newest end of the Map's order so far, the clock of `stamp`. */
  private moves = 0;
  /**
   * Moves an entry may be behind the newest and still not move when written again. Moving a
   * key is a delete and a re-insert, and a Map keeps each deleted slot in its key's hash
   * chain until it next rehashes. So a key moved on every login, such as a counter for a
   * busy address, grew a chain that every later insert into it walked, which cost a few
   * hundred µs per login at 500,000 entries.
   */
  private readonly settleMoves: number;
  private readonly maxEntries: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private calls = 0;

  constructor(options: { maxEntries: number; sweepIntervalMs?: number; clock?: () => number }) {
    this.maxEntries = options.maxEntries;
    this.claims = new ClaimTable(options.maxEntries);
    this.settleMoves = Math.max(1, Math.floor(options.maxEntries / 4));
    const clock = options.clock ?? Date.now;
    this.sweepTimer = setInterval(() => this.sweep(clock()), options.sweepIntervalMs ?? 30_000);
    this.sweepTimer.unref();
  }

  get roundTrips(): number {
    return this.calls;
  }

  get size(): number {
    return this.entries.size + this.claims.size + this.values.size + this.pending.size;
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
        const [current, previous] = alignMembers(entry, bucket);
        return slidingDistinct(current.length, unionSize(current, previous), fraction);
      }
      return 0;
    });

    const claims = request.claims.map((claim) => this.claims.claim(claim, request.now));

    const values = (request.lookups ?? []).map((key) => this.values.get(key, request.now));

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

    const pending = (request.pending ?? []).map((mark) => this.pending.mark(mark, request.now));

    return { counts, claims, values, hashes, sets, pending };
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    this.values.set(key, value, Date.now() + storeTtlMs(ttlMs));
  }

  async deleteValue(key: string): Promise<void> {
    this.values.delete(key);
  }

  async editList(edit: ListEdit): Promise<string | null> {
    return this.values.editList(edit, edit.ttlMs > 0 ? edit.now + storeTtlMs(edit.ttlMs) : undefined);
  }

  async write(request: WriteRequest): Promise<void> {
    this.calls += 1;
    const now = request.now;

    for (const increment of request.increments) {
      const bucket = bucketOf(now, increment.windowMs);
      const existing = this.entries.get(increment.key);
      const entry = existing instanceof CountEntry
        ? existing
        : new CountEntry(bucket, 0, 0, increment.windowMs);
      const [current, previous] = alignCounts(entry, bucket);
      entry.bucket = bucket;
      entry.current = current + 1;
      entry.previous = previous;
      entry.windowMs = increment.windowMs;
      this.put(increment.key, entry);
    }

    for (const addition of request.distinct) {
      const bucket = bucketOf(now, addition.windowMs);
      const existing = this.entries.get(addition.key);
      const entry = existing instanceof DistinctEntry
        ? existing
        : DistinctEntry.empty(bucket, addition.windowMs);
      rollMembers(entry, bucket);
      if (entry.current.length < MAX_DISTINCT_MEMBERS) {
        entry.current = withMember(entry.current, memberHash(addition.member));
      }
      entry.windowMs = addition.windowMs;
      this.put(addition.key, entry);
    }

    for (const reset of request.resets) {
      this.entries.delete(reset.key);
    }

    this.writeHashesAndSets(request);

    for (const key of request.deletes ?? []) {
      this.entries.delete(key);
      this.values.delete(key);
    }

    for (const release of request.pendingReleases ?? []) this.pending.release(release.key, release.id);
  }

  private writeHashesAndSets(request: WriteRequest): void {
    const now = request.now;
    const liveHash = (key: string) => {
      const entry = this.entries.get(key);
      return entry instanceof HashEntry && entry.expiresAt > now ? entry : new HashEntry(new Map(), Infinity);
    };

    for (const write of request.hashWrites ?? []) {
      const entry = liveHash(write.key);
      if (write.ifField && (entry.fields.get(write.ifField.field) ?? '') !== write.ifField.value) continue;
      for (const [field, value] of Object.entries(write.fields)) entry.fields.set(field, value);
      entry.expiresAt = now + storeTtlMs(write.ttlMs);
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
      const entry = existing instanceof SetEntry && existing.expiresAt > now
        ? existing
        : new SetEntry(new Set(), 0);
      for (const member of addition.members) entry.members.add(member);
      entry.expiresAt = now + storeTtlMs(addition.ttlMs);
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
    return removed + this.values.deleteByPrefix(keys);
  }

  /**
   * Remove every counter and value, keeping single-use claims, which must outlive their
   * assertions. The outage fallback is cleared when the shared store returns.
   */
  clear(): void {
    this.entries.clear();
    this.values.clear();
    this.evictionCursor = undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.entries.clear();
    this.claims.clear();
    this.values.clear();
    this.pending.clear();
  }

  /** Remove expired entries; exported for tests that drive a fake clock. */
  sweep(now: number): void {
    // After a sweep the store may grow without evicting for a while, and an idle cursor
    // would keep every table the Map outgrows meanwhile, so the next eviction starts afresh.
    this.evictionCursor = undefined;
    for (const [key, entry] of this.entries) {
      const expiresAt = typeof entry === 'number' ? entry : entry.expiresAt;
      if (expiresAt <= now) {
        this.entries.delete(key);
      }
    }
    this.claims.sweep(now);
    this.values.sweep(now);
    this.pending.sweep(now);
  }

  /**
   * Insert an entry, or mark one already present as written by moving it to the newest end
   * of the Map's order, so the first key is the least recently written one. An entry still
   * within `settleMoves` of the newest end stays where it is. So a key written at least once
   * every three quarters of `maxEntries` moves is never evicted, where strict LRU order would
   * keep it for all of `maxEntries`.
   */
  private put(key: string, entry: Entry): void {
    if (typeof entry !== 'number') {
      if (this.moves - entry.stamp < this.settleMoves && this.entries.get(key) === entry) return;
      entry.stamp = this.moves;
    }
    this.moves += 1;
    this.entries.delete(key);
    this.entries.set(compactKey(key), entry);
    if (this.entries.size > this.maxEntries) {
      this.evictionCursor ??= this.entries.keys();
      let oldest = this.evictionCursor.next();
      if (oldest.done) {
        this.evictionCursor = this.entries.keys();
        oldest = this.evictionCursor.next();
      }
      if (!oldest.done) {
        this.entries.delete(oldest.value);
      }
    }
  }
}

/**
 * The memory store's plain values (`setValue`), such as manual block and allow entries and
 * their list, each with its expiry time. They are kept apart from counters and never
 * evicted, because an evicted block entry would lift the block. The table is bounded by
 * what writes it: the admin API, which allows at most MAX_MANUAL_ENTRIES entries (an exact
 * key each, plus the list and its version), and the outage write probe, one fixed key. No
 * login writes a value.
 */
export class ValueTable {
  private readonly values = new Map<string, { value: string; expiresAt: number }>();

  get size(): number {
    return this.values.size;
  }

  get(key: string, now: number): string | null {
    const entry = this.values.get(key);
    return entry !== undefined && entry.expiresAt > now ? entry.value : null;
  }

  set(key: string, value: string, expiresAt: number): void {
    this.values.set(key, { value, expiresAt });
  }

  delete(key: string): boolean {
    return this.values.delete(key);
  }

  /** Delete every value whose key starts with one of `prefixes`; returns how many. */
  deleteByPrefix(prefixes: readonly string[]): number {
    let removed = 0;
    for (const key of this.values.keys()) {
      if (prefixes.some((prefix) => key.startsWith(prefix))) {
        this.values.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Remove expired values. */
  sweep(now: number): void {
    for (const [key, entry] of this.values) {
      if (entry.expiresAt <= now) this.values.delete(key);
    }
  }

  clear(): void {
    this.values.clear();
  }
}

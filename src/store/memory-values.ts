import type { ListEdit } from './store.js';

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

  /**
   * Apply a ListEdit as Redis's list edit script does. `expiresAt` is the expiry time that
   * `edit.ttlMs` requests, or undefined to keep the current one.
   */
  editList(edit: ListEdit, expiresAt: number | undefined): string | null {
    const stored = this.values.get(edit.key);
    const current = stored !== undefined && stored.expiresAt > edit.now ? stored : undefined;
    const remaining: unknown[] = [];
    let previous: string | null = null;
    for (const record of current ? parseRecords(current.value) : []) {
      if (Date.parse(record.expires_at) <= edit.now) continue;
      if (record.id === edit.id) previous = JSON.stringify(record);
      else remaining.push(record);
    }
    if (edit.record !== undefined) remaining.push(JSON.parse(edit.record));

    if (remaining.length === 0) {
      this.values.delete(edit.key);
    } else {
      const expiry = Math.max(current?.expiresAt ?? -Infinity, expiresAt ?? -Infinity);
      this.values.set(edit.key, { value: JSON.stringify(remaining), expiresAt: expiry });
    }
    return previous;
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

/** Parse a stored list into its records that have an `expires_at` text, dropping anything else. */
function parseRecords(text: string): { id?: unknown; expires_at: string }[] {
  try {
    const records = JSON.parse(text) as unknown;
    if (!Array.isArray(records)) return [];
    return records.filter((record): record is { id?: unknown; expires_at: string } =>
      typeof record === 'object' && record !== null && typeof (record as { expires_at?: unknown }).expires_at === 'string');
  } catch {
    return [];
  }
}

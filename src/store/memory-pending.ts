import type { PendingMark } from './store.js';

interface Mark {
  expiresAt: number;
  member?: string;
}

/**
 * The memory store's pending marks (see PendingMark), by key and login id. A key's marks
 * are pruned when it is marked again, and the key is dropped with its last mark, so the
 * table contains no more than the logins in flight.
 */
export class PendingTable {
  private readonly keys = new Map<string, Map<string, Mark>>();

  get size(): number {
    return this.keys.size;
  }

  /** Place a mark and return how many other logins, or other accounts for a member, are pending on its key. */
  mark(mark: PendingMark, now: number): number {
    let marks = this.keys.get(mark.key);
    if (!marks) {
      marks = new Map();
      this.keys.set(mark.key, marks);
    }
    for (const [id, existing] of marks) if (existing.expiresAt <= now) marks.delete(id);
    marks.set(mark.id, { expiresAt: now + mark.ttlMs, member: mark.member });

    if (mark.member === undefined) return marks.size - 1;
    const accounts = new Set<string>();
    for (const existing of marks.values()) {
      if (existing.member !== undefined && existing.member !== mark.member) accounts.add(existing.member);
    }
    return accounts.size;
  }

  release(key: string, id: string): void {
    const marks = this.keys.get(key);
    if (!marks) return;
    marks.delete(id);
    if (marks.size === 0) this.keys.delete(key);
  }

  /** Drop every lapsed mark. */
  sweep(now: number): void {
    for (const [key, marks] of this.keys) {
      for (const [id, mark] of marks) if (mark.expiresAt <= now) marks.delete(id);
      if (marks.size === 0) this.keys.delete(key);
    }
  }

  clear(): void {
    this.keys.clear();
  }
}

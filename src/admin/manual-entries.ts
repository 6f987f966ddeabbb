import { randomUUID } from 'node:crypto';

import type { CounterStore } from '../store/store.js';
import type { ResilientStore } from '../store/resilient.js';

export type ManualAction = 'block' | 'allow';
export type ManualTargetType = 'ip' | 'cidr' | 'username';

/**
 * A manual block or allow, as stored and as the admin API returns it. A username entry
 * holds the account's pseudonym, never the username itself.
 */
export interface ManualEntry {
  /** `ip:<address>`, `cidr:<network>/<bits>` or `username:<pseudonym>`. */
  id: string;
  action: ManualAction;
  type: ManualTargetType;
  value: string;
  reason: string;
  created_at: string;
  expires_at: string;
  /** Fingerprint of the admin token that created it. */
  created_by: string;
}

/**
 * Maximum number of live manual entries. Every entry is in one list value that each
 * gateway reads whole when it changes, and the memory store never evicts them, so the
 * number is capped. Thousands of addresses belong in an IP list file instead.
 */
export const MAX_MANUAL_ENTRIES = 5_000;

/** Longest lifetime of a manual entry: one year. */
export const MAX_ENTRY_TTL_MS = 365 * 86_400_000;

// The list outlives its latest entry a little, so a reader never sees a version without its list.
const LIST_GRACE_MS = 60_000;

/**
 * Lifetime of the version value: the longest an entry may live, plus the grace. The version
 * must outlive the list, because a gateway that reads no version keeps the list it has
 * loaded, and a gateway that has just started has loaded none.
 */
const VERSION_TTL_MS = MAX_ENTRY_TTL_MS + LIST_GRACE_MS;

/** Store keys of the manual entries under one key prefix. */
export class ManualKeys {
  readonly list: string;
  readonly version: string;

  constructor(private readonly prefix: string) {
    this.list = `${prefix}:m:list`;
    this.version = `${prefix}:m:version`;
  }

  address(address: string): string {
    return `${this.prefix}:m:ip:${address}`;
  }

  account(pseudonym: string): string {
    return `${this.prefix}:m:user:${pseudonym}`;
  }

  /** Key of an exact entry; CIDR entries live only in the list. */
  exact(entry: Pick<ManualEntry, 'type' | 'value'>): string | undefined {
    if (entry.type === 'ip') return this.address(entry.value);
    if (entry.type === 'username') return this.account(entry.value);
    return undefined;
  }
}

/**
 * Parse one stored entry; a value that is not an entry reads as absent. The fields come
 * back in the order of ManualEntry, whatever order the store wrote them in.
 */
export function parseEntry(text: string | null): ManualEntry | undefined {
  if (text === null) return undefined;
  try {
    const entry = JSON.parse(text) as ManualEntry;
    if (typeof entry.id !== 'string' || (entry.action !== 'block' && entry.action !== 'allow')) return undefined;
    const { id, action, type, value, reason, created_at, expires_at, created_by } = entry;
    return { id, action, type, value, reason, created_at, expires_at, created_by };
  } catch {
    return undefined;
  }
}

/** Parse the stored list of every entry. */
export function parseEntryList(text: string | null): ManualEntry[] {
  if (text === null) return [];
  try {
    const entries = JSON.parse(text) as unknown;
    return Array.isArray(entries) ? entries.filter((entry) => parseEntry(JSON.stringify(entry)) !== undefined) : [];
  } catch {
    return [];
  }
}

/**
 * The admin side of manual entries. Every entry is in one list value, which the admin API
 * lists and which carries the CIDR entries to the decision path. The store edits the list
 * in one atomic step (see ListEdit), so concurrent edits on any number of gateways all
 * stay in it. Exact IP and username entries are also stored under keys of their own,
 * which every login reads in its one store round trip. Each change writes a new version
 * value, and gateways reload the list only when the version they read differs from the
 * one they hold.
 */
export class ManualEntryStore {
  readonly keys: ManualKeys;

  constructor(
    private readonly store: ResilientStore,
    prefix: string,
  ) {
    this.keys = new ManualKeys(prefix);
  }

  private get primary(): CounterStore {
    return this.store.primary;
  }

  /** Every entry that has not expired, oldest first. */
  async list(now = Date.now()): Promise<ManualEntry[]> {
    const reading = await this.store.read({ now, counters: [], claims: [], lookups: [this.keys.list] }, 'closed');
    return parseEntryList(reading.result.values[0]).filter((entry) => Date.parse(entry.expires_at) > now);
  }

  /**
   * Add or replace the entry with this id; it applies to the next login on every gateway.
   * Returns the unexpired entry it replaced, or undefined.
   */
  async put(entry: ManualEntry, now = Date.now()): Promise<ManualEntry | undefined> {
    const ttlMs = Date.parse(entry.expires_at) - now;
    const exactKey = this.keys.exact(entry);
    if (exactKey) await this.primary.setValue(exactKey, JSON.stringify(entry), ttlMs);
    const previous = await this.primary.editList({
      key: this.keys.list,
      id: entry.id,
      record: JSON.stringify(entry),
      now,
      ttlMs: ttlMs + LIST_GRACE_MS,
    });
    await this.changed();
    return parseEntry(previous);
  }

  /**
   * Remove an entry by id; returns it, or undefined when there was none.
   * NOTE: an exact entry's key and the list are two keys, which a Cluster may place on two
   * nodes. An add and a removal of the same IP or username entry at the same moment can
   * therefore leave the key and the list disagreeing. Edits of different entries never conflict.
   */
  async remove(id: string, now = Date.now()): Promise<ManualEntry | undefined> {
    const exactKey = exactKeyOfId(this.keys, id);
    let exact: ManualEntry | undefined;
    if (exactKey) {
      const reading = await this.store.read({ now, counters: [], claims: [], lookups: [exactKey] }, 'closed');
      exact = parseEntry(reading.result.values[0]);
      await this.primary.deleteValue(exactKey);
    }
    const listed = parseEntry(await this.primary.editList({ key: this.keys.list, id, now, ttlMs: 0 }));
    if (listed) await this.changed();
    return listed ?? exact;
  }

  /**
   * Write a new version after a list edit. Every version is new and written after its edit,
   * so a gateway that read any later version reloads a list that contains the edit.
   */
  private async changed(): Promise<void> {
    await this.primary.setValue(this.keys.version, randomUUID(), VERSION_TTL_MS);
  }
}

function exactKeyOfId(keys: ManualKeys, id: string): string | undefined {
  const separator = id.indexOf(':');
  const type = id.slice(0, separator);
  const value = id.slice(separator + 1);
  if (type === 'ip' || type === 'username') return keys.exact({ type, value });
  return undefined;
}

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
const MAX_WRITE_ATTEMPTS = 5;

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

/** Parse one stored entry; a value that is not an entry reads as absent. */
export function parseEntry(text: string | null): ManualEntry | undefined {
  if (text === null) return undefined;
  try {
    const entry = JSON.parse(text) as ManualEntry;
    return typeof entry.id === 'string' && (entry.action === 'block' || entry.action === 'allow') ? entry : undefined;
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
 * lists and which carries the CIDR entries to the decision path. Exact IP and username
 * entries are also stored under keys of their own, which every login reads in its one
 * store round trip. Each change writes a new version value, and gateways reload the list
 * only when the version they read differs from the one they hold.
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

  /** Add or replace the entry with this id; it applies to the next login on every gateway. */
  async put(entry: ManualEntry, now = Date.now()): Promise<void> {
    const exactKey = this.keys.exact(entry);
    if (exactKey) {
      await this.primary.setValue(exactKey, JSON.stringify(entry), Date.parse(entry.expires_at) - now);
    }
    await this.updateList(now, (entries) => [...entries.filter((other) => other.id !== entry.id), entry],
      (entries) => entries.some((other) => other.id === entry.id && other.created_at === entry.created_at));
  }

  /** Remove an entry by id; returns it, or undefined when there was none. */
  async remove(id: string, now = Date.now()): Promise<ManualEntry | undefined> {
    const existing = (await this.list(now)).find((entry) => entry.id === id);
    const exactKey = existing ? this.keys.exact(existing) : exactKeyOfId(this.keys, id);
    let exact: ManualEntry | undefined;
    if (exactKey) {
      const reading = await this.store.read({ now, counters: [], claims: [], lookups: [exactKey] }, 'closed');
      exact = parseEntry(reading.result.values[0]);
      await this.primary.deleteValue(exactKey);
    }
    if (existing) {
      await this.updateList(now, (entries) => entries.filter((entry) => entry.id !== id),
        (entries) => !entries.some((entry) => entry.id === id));
    }
    return existing ?? exact;
  }

  /**
   * Read, change and write the list, then read it back and repeat if another gateway's
   * write replaced this one in between.
   */
  private async updateList(
    now: number,
    change: (entries: ManualEntry[]) => ManualEntry[],
    applied: (entries: ManualEntry[]) => boolean,
  ): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt += 1) {
      const entries = change(await this.list(now));
      const lastExpiry = Math.max(0, ...entries.map((entry) => Date.parse(entry.expires_at)));
      if (entries.length === 0) {
        await this.primary.deleteValue(this.keys.list);
        await this.primary.deleteValue(this.keys.version);
      } else {
        const ttlMs = lastExpiry - now + LIST_GRACE_MS;
        await this.primary.setValue(this.keys.list, JSON.stringify(entries), ttlMs);
        await this.primary.setValue(this.keys.version, randomUUID(), ttlMs);
      }
      if (applied(await this.list(now))) return;
    }
    // NOTE: the list is read, changed and written without a lock; after repeated lost races
    // the exact key still applies, but the entry may be missing from the listing.
    throw new Error(`the manual entry list kept changing under ${MAX_WRITE_ATTEMPTS} attempts to update it; retry`);
  }
}

function exactKeyOfId(keys: ManualKeys, id: string): string | undefined {
  const separator = id.indexOf(':');
  const type = id.slice(0, separator);
  const value = id.slice(separator + 1);
  if (type === 'ip' || type === 'username') return keys.exact({ type, value });
  return undefined;
}

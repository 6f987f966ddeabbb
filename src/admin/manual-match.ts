import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';

import type { ResilientStore } from '../store/resilient.js';
import { ManualKeys, parseEntry, parseEntryList, type ManualAction, type ManualEntry } from './manual-entries.js';

/** The manual entry that decides a login. */
export interface ManualMatch {
  action: ManualAction;
  id: string;
}

interface CidrRange {
  range: ipaddr.IPv4 | ipaddr.IPv6;
  bits: number;
  action: ManualAction;
  id: string;
  expiresAtMs: number;
}

/**
 * Maximum time an instance goes without reading the list version, so its cache is at most
 * this old plus one check interval (a fifth of it) when Redis goes away: 5 seconds in all.
 */
export const MANUAL_REFRESH_MS = 4000;

/**
 * The decision path's view of manual entries. A login adds `lookupKeys` to its one store
 * read; `match` then applies the exact IP and username entries from that read, and the
 * CIDR entries from a cached list that is reloaded only when the version read differs.
 * A block beats an allow, so an allowed account cannot lift a block on its address.
 */
export class ManualMatcher {
  readonly keys: ManualKeys;
  private version: string | null = null;
  private ranges: CidrRange[] = [];
  /** Exact entries of the cached list by `ip:<address>` or `username:<pseudonym>`, for store outages. */
  private exact = new Map<string, ManualEntry>();
  private reloading: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** When a login or a refresh last read the list version from the store. */
  private versionReadAt = 0;

  constructor(
    private readonly store: ResilientStore,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.keys = new ManualKeys(prefix);
  }

  /**
   * Read the list version once no login has read it for `intervalMs`, and reload the list
   * when it changed. Without this, an instance that handles no login before an outage
   * would enforce an old list through it. Busy instances make no extra store calls.
   */
  startRefresh(intervalMs: number, clock: () => number): void {
    this.stopRefresh();
    this.refreshTimer = setInterval(() => void this.refresh(clock(), intervalMs), Math.ceil(intervalMs / 5));
    this.refreshTimer.unref();
  }

  stopRefresh(): void {
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  /** Keys to fetch with a login's counters: its address entry, account entry and the list version. */
  lookupKeys(address: string, pseudonym: string | undefined): string[] {
    return pseudonym === undefined
      ? [this.keys.address(address), this.keys.version]
      : [this.keys.address(address), this.keys.account(pseudonym), this.keys.version];
  }

  /**
   * The manual decision for a login, from the values its read returned for `lookupKeys`.
   * While the store is out (`memory-fallback`), the entries of the list last cached apply,
   * so a block stays in force through an outage.
   */
  async match(
    values: readonly (string | null)[],
    address: string,
    pseudonym: string | undefined,
    source: string,
    now: number,
  ): Promise<ManualMatch | undefined> {
    const hasAccount = pseudonym !== undefined;
    let addressEntry: ManualEntry | undefined;
    let accountEntry: ManualEntry | undefined;
    if (source === 'memory-fallback') {
      addressEntry = this.exact.get(`ip:${address}`);
      accountEntry = hasAccount ? this.exact.get(`username:${pseudonym}`) : undefined;
    } else {
      addressEntry = parseEntry(values[0] ?? null);
      accountEntry = hasAccount ? parseEntry(values[1] ?? null) : undefined;

      const version = values[hasAccount ? 2 : 1] ?? null;
      this.versionReadAt = now;
      if (version !== this.version) await this.reload(version, now);
    }

    const found: ManualEntry[] = [];
    if (addressEntry && Date.parse(addressEntry.expires_at) > now) found.push(addressEntry);
    if (accountEntry && Date.parse(accountEntry.expires_at) > now) found.push(accountEntry);

    let match: ManualMatch | undefined;
    for (const entry of found) {
      if (entry.action === 'block') return { action: 'block', id: entry.id };
      match ??= { action: entry.action, id: entry.id };
    }
    if (this.ranges.length > 0) {
      const parsed = parseClient(address);
      for (const range of parsed ? this.ranges : []) {
        if (range.expiresAtMs <= now || range.range.kind() !== parsed!.kind() || !parsed!.match(range.range, range.bits)) {
          continue;
        }
        if (range.action === 'block') return { action: 'block', id: range.id };
        match ??= { action: range.action, id: range.id };
      }
    }
    return match;
  }

  private async refresh(now: number, intervalMs: number): Promise<void> {
    // The memory store's list is this process's own, and during an outage the cache is all
    // there is. Logins read the version with their counters, so a busy instance needs no check.
    if (this.store.primary.kind === 'memory' || this.store.inOutage || this.reloading) return;
    if (now - this.versionReadAt < intervalMs) return;
    try {
      this.versionReadAt = now;
      const result = await this.store.primary.read({ now, counters: [], claims: [], lookups: [this.keys.version] });
      const version = result.values[0] ?? null;
      if (version !== this.version) await this.reload(version, now);
    } catch {
      // A failed check changes nothing; logins notice the outage and log it.
    }
  }

  private reload(version: string | null, now: number): Promise<void> {
    this.reloading ??= this.store
      .read({ now, counters: [], claims: [], lookups: [this.keys.list] }, 'closed')
      .then((reading) => {
        const entries = parseEntryList(reading.result.values[0]);
        this.ranges = toRanges(entries);
        this.exact = new Map(entries.filter((entry) => entry.type !== 'cidr').map((entry) => [entry.id, entry]));
        this.version = version;
      })
      .catch((error: unknown) => {
        // The previous list stays in force; the next login retries the reload.
        this.logger.warn({ err: error }, 'manual entry list reload failed');
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }
}

function toRanges(entries: readonly ManualEntry[]): CidrRange[] {
  const ranges: CidrRange[] = [];
  for (const entry of entries) {
    if (entry.type !== 'cidr') continue;
    try {
      const [range, bits] = ipaddr.parseCIDR(entry.value);
      ranges.push({ range, bits, action: entry.action, id: entry.id, expiresAtMs: Date.parse(entry.expires_at) });
    } catch {
      // Entries are validated when added; an unreadable one is skipped, not fatal.
    }
  }
  return ranges;
}

function parseClient(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    return ipaddr.parse(address);
  } catch {
    return undefined;
  }
}

import type { ClaimOutcome, ClaimRequest } from './store.js';
import { storeTtlMs } from './ttl.js';

/**
 * Maximum live claims of one account in the memory store. A genuine user completes a
 * step-up once per challenge, and an assertion lives at most 10 minutes, so 5 leaves room
 * for retries and a second device. Past it only that account's step-ups are rejected.
 */
export const MAX_LIVE_CLAIMS_PER_ACCOUNT = 5;

/**
 * The memory store's single-use claims, such as used step-up `jti`s, with their expiry.
 * Claims are never evicted, because an evicted claim would let a used assertion pass
 * again, so the table is bounded by `maxClaims` and rejects new claims when full. Any
 * account holder who completes step-ups can add claims, so each account may have at most
 * MAX_LIVE_CLAIMS_PER_ACCOUNT of them. One account then cannot fill the table, but
 * `maxClaims / MAX_LIVE_CLAIMS_PER_ACCOUNT` accounts acting together still can.
 */
export class ClaimTable {
  private readonly expiries = new Map<string, number>();
  /** Expiry times of the live claims of each account, for the per-account limit. */
  private readonly accounts = new Map<string, number[]>();

  constructor(private readonly maxClaims: number) {}

  get size(): number {
    return this.expiries.size;
  }

  /** Claim `request.key` at `now`, unless it is in use or a limit is reached. */
  claim(request: ClaimRequest, now: number): ClaimOutcome {
    const existing = this.expiries.get(request.key);
    if (existing !== undefined && existing > now) return 'used';

    const accountClaims = request.account === undefined ? undefined : this.liveClaimsOf(request.account, now);
    if (accountClaims !== undefined && accountClaims.length >= MAX_LIVE_CLAIMS_PER_ACCOUNT) return 'account_limit';

    if (existing === undefined && this.expiries.size >= this.maxClaims) {
      this.sweep(now);
      if (this.expiries.size >= this.maxClaims) return 'table_full';
    }

    const expiresAt = now + storeTtlMs(request.ttlMs);
    this.expiries.set(request.key, expiresAt);
    if (accountClaims !== undefined) {
      accountClaims.push(expiresAt);
      this.accounts.set(request.account!, accountClaims);
    }
    return 'claimed';
  }

  /** Remove expired claims and the accounts left with none. */
  sweep(now: number): void {
    for (const [key, expiresAt] of this.expiries) {
      if (expiresAt <= now) this.expiries.delete(key);
    }
    for (const account of this.accounts.keys()) {
      if (this.liveClaimsOf(account, now).length === 0) this.accounts.delete(account);
    }
  }

  clear(): void {
    this.expiries.clear();
    this.accounts.clear();
  }

  /** Return the expiry times of the account's claims that are still live at `now`. */
  private liveClaimsOf(account: string, now: number): number[] {
    const live = (this.accounts.get(account) ?? []).filter((expiresAt) => expiresAt > now);
    if (live.length > 0) this.accounts.set(account, live);
    else this.accounts.delete(account);
    return live;
  }
}

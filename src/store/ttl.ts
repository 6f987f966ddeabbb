import { RiskgateError } from '../errors.js';

/**
 * Maximum TTL sent to a store: 10 years. The longest TTL riskgate means to set is a 400-day
 * profile retention. Redis 7 rejects a `PX` that is not an integer, or that overflows a
 * signed 64-bit millisecond time once added to its clock, so every TTL stays far below that.
 */
export const MAX_STORE_TTL_MS = 10 * 365 * 86_400_000;

/**
 * Convert a TTL in milliseconds to what a store command accepts: a whole number of
 * milliseconds from 1 to MAX_STORE_TTL_MS. A fraction rounds up, so a single-use claim
 * never expires before the token it guards. A longer TTL is capped, and a TTL of 0 or less
 * becomes 1 ms. NaN throws RG_ERR_STORE_REQUEST_INVALID, which ResilientStore turns into a
 * failure of that one request, with no store outage.
 */
export function storeTtlMs(ttlMs: number): number {
  if (Number.isNaN(ttlMs)) {
    throw new RiskgateError('RG_ERR_STORE_REQUEST_INVALID',
      'a store TTL is NaN: compute TTLs from numbers that were checked first');
  }
  return Math.min(MAX_STORE_TTL_MS, Math.max(1, Math.ceil(ttlMs)));
}

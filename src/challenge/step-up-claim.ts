import { createHash } from 'node:crypto';

import type { ClaimOutcome, ClaimRequest } from '../store/store.js';
import { CLOCK_TOLERANCE_SECONDS, type StepUpResult } from './step-up.js';

/**
 * Time a used assertion's claim outlives its `exp`. It covers the 5 s clock tolerance of the
 * expiry check, so an assertion is still rejected as a replay in its last tolerated seconds.
 */
const CLAIM_MARGIN_MS = 10_000;

/**
 * Build the single-use claim for a verified assertion's `jti`, counted against the
 * account. It lives until the assertion expires, at least 1 s, and the store rounds it to
 * whole milliseconds. The key contains a digest of the `jti`, never the `jti` itself.
 */
export function stepUpClaim(
  keyPrefix: string,
  verified: Extract<StepUpResult, { ok: true }>,
  now: number,
  accountPseudonym: string,
): ClaimRequest {
  return {
    key: `${keyPrefix}:jti:{${digest(verified.jti)}}`,
    ttlMs: Math.max(1000, verified.expiresAt - now + CLAIM_MARGIN_MS),
    account: accountPseudonym,
  };
}

/** Return the step-up result once its claim's outcome is known. */
export function applyClaimOutcome(verified: StepUpResult, outcome: ClaimOutcome | undefined): StepUpResult {
  if (!verified.ok || outcome === 'claimed') return verified;
  switch (outcome) {
    case 'table_full':
      return { ok: false, reason: 'claim_table_full' };
    case 'account_limit':
      return { ok: false, reason: 'account_claim_limit' };
    default:
      return { ok: false, reason: 'replay' };
  }
}

/**
 * Reject an assertion issued before the store was found to have lost its data, with the
 * clock tolerance on the safe side. Its single-use claim may have been lost, so it could be
 * a replay. The user completes the step-up again.
 */
export function rejectIssuedBeforeLoss(verified: StepUpResult, lostAt: number | undefined): StepUpResult {
  if (!verified.ok || lostAt === undefined) return verified;
  if (verified.issuedAt >= lostAt + CLOCK_TOLERANCE_SECONDS * 1000) return verified;
  return { ok: false, reason: 'issued_before_store_loss' };
}

/**
 * Reject an assertion issued before a memory store started empty, which has none of the
 * claims made before. The cut is at the start's whole second, since `iat` counts seconds,
 * and without the clock tolerance, which would reject every assertion of the first seconds.
 */
export function rejectIssuedBeforeStart(verified: StepUpResult, startedAt: number | undefined): StepUpResult {
  if (!verified.ok || startedAt === undefined) return verified;
  if (verified.issuedAt >= Math.floor(startedAt / 1000) * 1000) return verified;
  return { ok: false, reason: 'issued_before_store_loss' };
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

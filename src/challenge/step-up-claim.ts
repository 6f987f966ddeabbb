import { createHash } from 'node:crypto';

import type { ClaimOutcome, ClaimRequest } from '../store/store.js';
import type { StepUpResult } from './step-up.js';

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
  accountKey: string,
): ClaimRequest {
  return {
    key: `${keyPrefix}:jti:{${digest(verified.jti)}}`,
    ttlMs: Math.max(1000, verified.expiresAt - now + CLAIM_MARGIN_MS),
    account: accountKey,
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
 * Reject an assertion whose challenge was issued before `cutoff`, the time since which the
 * store is known to have kept its claims (see DataLossWatch.cutoff). Its single-use claim may
 * have been lost, so it could be a replay. The challenge is issued before the assertion and
 * signed by the gateways, so an MFA service whose clock runs ahead cannot move it past the
 * cutoff. The user completes the step-up again.
 */
export function rejectIssuedBeforeLoss(verified: StepUpResult, cutoff: number | undefined): StepUpResult {
  if (!verified.ok || cutoff === undefined) return verified;
  if (verified.challengeIssuedAt >= cutoff) return verified;
  return { ok: false, reason: 'issued_before_store_loss' };
}

/**
 * Reject an assertion whose challenge was issued before a memory store started empty, since
 * the store has none of the claims made before. The cut is at the start's whole second,
 * since a challenge's `iat` counts seconds: only a restart within the second of a used
 * assertion's challenge would let it pass again.
 */
export function rejectIssuedBeforeStart(verified: StepUpResult, startedAt: number | undefined): StepUpResult {
  return rejectIssuedBeforeLoss(verified, startedAt === undefined ? undefined : Math.floor(startedAt / 1000) * 1000);
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

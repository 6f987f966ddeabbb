import { PROFILE_FEATURES, type LoginFeatures } from './features.js';
import type { GlobalFrequencies } from './frequencies.js';
import { entriesFor, type AccountProfile } from './profile.js';

/** Pseudo-count α that pulls an account's own frequencies toward the global ones. */
export const RISK_SMOOTHING = 1;

/** Largest evidence one feature adds or removes, in log10 units (a likelihood ratio of 100). */
export const MAX_FEATURE_EVIDENCE = 2;

/**
 * Likelihood-ratio account risk, after Freeman, Jain, Dürmuth, Biggio and Giacinto, "Who
 * Are You? A Statistical Approach to Measuring User Authenticity" (NDSS 2016). An attacker
 * is modelled as a random login from the whole population, and the owner by the account's
 * own history. For each feature k that the login shows, with value v:
 *
 *   p_g(v) = (C(v) + 1) / (N + K + 1)          share of all logins with v (Laplace)
 *   p_u(v) = (c(v) + α·p_g(v)) / (n + α)       share of the account's successes with v
 *   e_k    = clamp(log10(p_g(v) / p_u(v)), -2, 2)
 *   risk   = Σ e_k
 *
 * C, N and K are the global counts (see GlobalFrequencies); c(v) is the account's count of
 * v and n the sum of its counts for feature k. α = 1.
 *
 * What follows: an account with no history scores 0 (p_u = p_g); a value the account never
 * used scores log10((n + α) / α), growing with the history it breaks from; a value it uses
 * habitually scores below 0, the more so the rarer that value is globally. Features are
 * correlated (city implies country), so the sum overstates the evidence of independent
 * features; thresholds in rules are tuned against that, not read as probabilities.
 */
export function accountRisk(
  profile: AccountProfile | undefined,
  features: LoginFeatures,
  global: GlobalFrequencies,
  spelling?: string,
): number {
  if (!profile) return 0;

  let risk = 0;
  for (const feature of PROFILE_FEATURES) {
    const value = features[feature];
    if (value === undefined) continue;

    const entries = entriesFor(profile, feature, spelling);
    const history = entries.reduce((sum, entry) => sum + entry.count, 0);
    if (history === 0) continue;
    const used = entries.reduce((sum, entry) => sum + (entry.value === value ? entry.count : 0), 0);
    const globalShare = global.probability(feature, value);
    const accountShare = (used + RISK_SMOOTHING * globalShare) / (history + RISK_SMOOTHING);
    const evidence = Math.log10(globalShare / accountShare);
    risk += Math.max(-MAX_FEATURE_EVIDENCE, Math.min(MAX_FEATURE_EVIDENCE, evidence));
  }
  return Math.round(risk * 1000) / 1000;
}

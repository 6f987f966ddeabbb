import { applyStepUp, type StepUpResult } from '../challenge/step-up.js';
import type { StepUpConfig } from '../config/types.js';
import type { Decision } from '../rules/types.js';

/** The parts of a login's decision that decide whether its success may teach the profile. */
export interface LearningInput {
  decision: Decision;
  /** The rules' decision with every monitor-mode rule, and a gateway in `mode: monitor`, enforced. */
  wouldDecision: Decision;
  manual?: { action: 'block' | 'allow' };
  stepUp?: StepUpResult;
}

/**
 * Tell whether the app's success for this login may teach the account profile and earn a
 * device cookie. The login must be allowed, and must stay allowed with every rule enforced.
 * A success that the rules would challenge or block is how an account takeover looks, and
 * learning from it would make the attacker's device and network familiar once enforcement
 * starts. A passed step-up turns a would-be challenge into an allow, and a manual allow
 * entry is the operator's own decision. A login challenged in forward mode reaches the app,
 * but the app's 200 may only ask for the second factor, which riskgate cannot see pass.
 */
export function successTeaches(login: LearningInput, challengeMode: StepUpConfig['mode']): boolean {
  if (login.decision !== 'allow') return false;
  const wouldBe = login.manual?.action ?? applyStepUp(login.wouldDecision, login.stepUp, challengeMode);
  return wouldBe === 'allow';
}

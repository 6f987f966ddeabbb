import { randomUUID } from 'node:crypto';

import { CompactSign, SignJWT, type CryptoKey, type KeyObject } from 'jose';

export interface AssertionClaims {
  /** Normalised username the MFA service vouches for. */
  subject: string;
  challengeId: string;
  /** Clock reading in milliseconds that `iat` and `exp` are counted from. */
  nowMs: number;
  issuer?: string;
  audience?: string;
  /** Lifetime in seconds from `nowMs`; negative for an already expired token. */
  lifetimeSeconds?: number;
  /** `exp` as written, in seconds, such as a fractional one; overrides `lifetimeSeconds`. */
  expiresAt?: number;
  jti?: string;
}

/** Sign a step-up assertion as the harness's test MFA service (ES256, iss test-mfa). */
export function signAssertion(key: CryptoKey | KeyObject, claims: AssertionClaims): Promise<string> {
  const issuedAt = Math.floor(claims.nowMs / 1000);
  const exp = claims.expiresAt ?? issuedAt + (claims.lifetimeSeconds ?? 120);
  // The payload carries `exp` as given: setExpirationTime would check it is finite.
  return new SignJWT({ riskgate_challenge: claims.challengeId, exp })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(claims.issuer ?? 'test-mfa')
    .setAudience(claims.audience ?? 'riskgate')
    .setSubject(claims.subject)
    .setJti(claims.jti ?? randomUUID())
    .setIssuedAt(issuedAt)
    .sign(key);
}

/**
 * Sign a step-up assertion whose `exp` is the JSON number text `expText`, such as `1e400`,
 * which JSON.stringify cannot write. Other claims are as in signAssertion.
 */
export function signAssertionWithExpText(key: CryptoKey | KeyObject, claims: AssertionClaims, expText: string): Promise<string> {
  const fields = JSON.stringify(claimsWithoutExpiry(claims));
  const payload = `${fields.slice(0, -1)},"exp":${expText}}`;
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'ES256' }).sign(key);
}

/** Build an unsigned `alg: none` token with the same claims, as an attacker would. */
export function unsignedAssertion(claims: AssertionClaims): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const fields = claimsWithoutExpiry(claims);
  const payload = { ...fields, exp: fields.iat + (claims.lifetimeSeconds ?? 120) };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

/** Build an assertion's claims other than `exp`, with the same defaults as signAssertion. */
function claimsWithoutExpiry(claims: AssertionClaims) {
  return {
    riskgate_challenge: claims.challengeId,
    iss: claims.issuer ?? 'test-mfa',
    aud: claims.audience ?? 'riskgate',
    sub: claims.subject,
    jti: claims.jti ?? randomUUID(),
    iat: Math.floor(claims.nowMs / 1000),
  };
}

import { randomUUID } from 'node:crypto';

import { SignJWT, type CryptoKey, type KeyObject } from 'jose';

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
  jti?: string;
}

/** Sign a step-up assertion as the harness's test MFA service (ES256, iss test-mfa). */
export function signAssertion(key: CryptoKey | KeyObject, claims: AssertionClaims): Promise<string> {
  const issuedAt = Math.floor(claims.nowMs / 1000);
  return new SignJWT({ riskgate_challenge: claims.challengeId })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(claims.issuer ?? 'test-mfa')
    .setAudience(claims.audience ?? 'riskgate')
    .setSubject(claims.subject)
    .setJti(claims.jti ?? randomUUID())
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (claims.lifetimeSeconds ?? 120))
    .sign(key);
}

/** Build an unsigned `alg: none` token with the same claims, as an attacker would. */
export function unsignedAssertion(claims: AssertionClaims): string {
  const issuedAt = Math.floor(claims.nowMs / 1000);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = {
    riskgate_challenge: claims.challengeId,
    iss: claims.issuer ?? 'test-mfa',
    aud: claims.audience ?? 'riskgate',
    sub: claims.subject,
    jti: claims.jti ?? randomUUID(),
    iat: issuedAt,
    exp: issuedAt + (claims.lifetimeSeconds ?? 120),
  };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

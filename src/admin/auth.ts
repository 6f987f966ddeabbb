import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export type TokenCheck =
  | { ok: true; fingerprint: string }
  | { ok: false; reason: 'disabled' | 'missing' | 'invalid' };

/** SHA-256 of a token: 32 bytes whatever the token's length, so comparisons never leak it. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The admin API's bearer token check. The configured token is kept only as its SHA-256
 * digest, and a presented token is hashed the same way before `timingSafeEqual`, so every
 * wrong token, whatever its length or shared prefix, costs the same comparison.
 */
export class AdminAuthenticator {
  private readonly expected: Buffer | undefined;
  private readonly fingerprintKey: Buffer;

  constructor(token: string | undefined, secret: string) {
    this.expected = token === undefined ? undefined : tokenDigest(token);
    this.fingerprintKey = Buffer.from(hkdfSync('sha256', secret, 'riskgate', 'admin-token-fingerprint', 32));
  }

  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** Check an Authorization header value of the form `Bearer <token>`. */
  check(authorization: string | undefined): TokenCheck {
    if (this.expected === undefined) return { ok: false, reason: 'disabled' };

    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, reason: 'missing' };

    const presented = match[1];
    if (!timingSafeEqual(tokenDigest(presented), this.expected)) return { ok: false, reason: 'invalid' };
    return { ok: true, fingerprint: this.fingerprint(presented) };
  }

  /**
   * Name of a token for the audit log: a keyed HMAC, so the log never holds the token, and
   * a fingerprint cannot be checked against guesses without RISKGATE_SECRET.
   */
  fingerprint(token: string): string {
    return `tok_${createHmac('sha256', this.fingerprintKey).update(token).digest('hex').slice(0, 16)}`;
  }
}

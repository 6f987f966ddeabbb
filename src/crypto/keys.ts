import { createHmac, hkdfSync } from 'node:crypto';

const PSEUDONYM = /^[0-9a-f]{32}$/;

/** True for text of the form GatewayKeys.pseudonymize writes: 32 lowercase hex digits. */
export function isPseudonym(text: string): boolean {
  return PSEUDONYM.test(text);
}

/**
 * Keys derived from RISKGATE_SECRET with HKDF-SHA256, one per purpose, so a key leaked
 * from one use (say a device cookie key) says nothing about another (the pseudonym key).
 */
export class GatewayKeys {
  readonly pseudonym: Buffer;
  readonly counter: Buffer;
  readonly cookie: Uint8Array;
  readonly challenge: Uint8Array;
  readonly riskHeader: Uint8Array;
  readonly devicePseudonym: Buffer;
  readonly storeCheck: Buffer;

  constructor(secret: string) {
    const derive = (purpose: string) =>
      Buffer.from(hkdfSync('sha256', secret, 'riskgate', purpose, 32));
    this.pseudonym = derive('pseudonym');
    this.counter = derive('counter-key');
    this.cookie = derive('device-cookie');
    this.challenge = derive('challenge-id');
    this.riskHeader = derive('risk-header');
    this.devicePseudonym = derive('device-pseudonym');
    this.storeCheck = derive('store-check');
  }

  /** Pseudonym of a normalised username: the same account always maps to the same value. */
  pseudonymize(username: string): string {
    return createHmac('sha256', this.pseudonym).update(username).digest('hex').slice(0, 32);
  }

  /** Pseudonym of a device cookie's id, logged so replay can rebuild `device` counters. */
  pseudonymizeDevice(deviceId: string): string {
    return createHmac('sha256', this.devicePseudonym).update(deviceId).digest('hex').slice(0, 32);
  }

  /**
   * Check value of the secret: an HMAC of a fixed label. Two processes with the same
   * secret compute the same value, and the value reveals nothing about the secret.
   */
  storeCheckValue(): string {
    return createHmac('sha256', this.storeCheck).update('riskgate store secret check').digest('hex');
  }

  /**
   * Digest of a counter's key parts. Each part is length-prefixed, so no choice of
   * separators inside a username can make two different part lists collide.
   */
  counterDigest(counterName: string, parts: readonly string[]): string {
    // One update with the whole message: each update call crosses into native code, and
    // the digest depends only on the bytes, not on how they were split.
    let message = counterName;
    for (const part of parts) {
      message += `\u0000${part.length}:${part}`;
    }
    return createHmac('sha256', this.counter).update(message).digest('base64url').slice(0, 22);
  }
}

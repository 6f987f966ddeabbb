import { timingSafeEqual } from 'node:crypto';

import type { Logger } from 'pino';

import type { GatewayKeys } from '../crypto/keys.js';
import { RiskgateError } from '../errors.js';
import type { RedisStore } from './redis.js';

/**
 * Store key of the secret check value, `<prefix>:s:{secret-check}`, in the layout of the other
 * keys: a kind letter and a hash tag. Every gateway writes the check value of its
 * RISKGATE_SECRET here at start, so `riskgate forget` and `riskgate export`, which derive
 * the account's keys from their own RISKGATE_SECRET, can tell whether it is the same secret.
 * The key has no expiry, and erasure never deletes it because it names no account.
 */
export function secretCheckKey(prefix: string): string {
  return `${prefix}:s:{secret-check}`;
}

/** Compare a stored check value with the one of `keys`, in constant time. */
export function matchesSecretCheck(stored: string, keys: GatewayKeys): boolean {
  const expected = Buffer.from(keys.storeCheckValue(), 'utf8');
  const actual = Buffer.from(stored, 'utf8');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Write the gateway's check value. A different value already stored means that another
 * gateway sharing the key prefix has another secret, or that the secret was changed. Either
 * way the new value replaces it and a warning is logged. A failed write is logged, not thrown:
 * the gateway works without the check value, only forget and export cannot verify their secret.
 * Returns whether the value was written.
 */
export async function recordSecretCheck(store: RedisStore, prefix: string, keys: GatewayKeys, logger: Logger): Promise<boolean> {
  const key = secretCheckKey(prefix);
  try {
    const previous = await store.client.get(key);
    await store.client.set(key, keys.storeCheckValue());
    if (previous !== null && !matchesSecretCheck(previous, keys)) {
      logger.warn(
        { store: store.kind, riskgate: { store_key: key } },
        'the secret check value in the store was written with a different RISKGATE_SECRET: give every gateway ' +
          'sharing store.key_prefix the same secret (after a deliberate change of secret, expect this line once)',
      );
    }
    return true;
  } catch (error) {
    logger.warn(
      { store: store.kind, riskgate: { store_key: key }, err: { message: (error as Error).message } },
      'writing the secret check value failed; riskgate forget and export cannot verify RISKGATE_SECRET until a gateway writes it',
    );
    return false;
  }
}

/**
 * Compare the stored check value with the one of `keys`. Returns `missing` when no gateway
 * has written one under this prefix yet, and throws when it was written with another secret.
 */
export async function verifySecretCheck(store: RedisStore, prefix: string, keys: GatewayKeys): Promise<'match' | 'missing'> {
  const key = secretCheckKey(prefix);
  const stored = await store.client.get(key);
  if (stored === null) return 'missing';
  if (!matchesSecretCheck(stored, keys)) {
    throw new RiskgateError('RG_ERR_SECRET_MISMATCH',
      `RISKGATE_SECRET is not the secret of the gateways that use this store: the check value under ${key} ` +
        'was written with another secret, so the account keys derived here would not match theirs. ' +
        'Set RISKGATE_SECRET to the gateways\' secret and run the command again');
  }
  return 'match';
}

import { RiskgateError } from '../errors.js';

/**
 * Redis error replies caused by one command's arguments or by the type of one key, as
 * Redis 7 words them. A Lua script passes them on with the same words, after `-` in Redis 6.
 * Only these fail the one request alone. Every other error reply (OOM, READONLY, LOADING,
 * NOPERM, an unknown command) may hit every request, so it opens a store outage and the
 * outage fallback judges logins meanwhile. Treating an unknown reply as a per-request
 * error instead would fail every login with no fallback.
 */
const REQUEST_ERROR_PATTERNS: readonly RegExp[] = [
  /(^|-)WRONGTYPE /,
  /value is not an integer or out of range/,
  /value is not a valid float/,
  /invalid expire time/,
  /increment or decrement would overflow/,
  /hash value is not an integer/,
];

/** Tell whether a Redis error reply is about one command's arguments or key, not the server. */
export function isRequestErrorReply(message: string): boolean {
  return REQUEST_ERROR_PATTERNS.some((pattern) => pattern.test(message));
}

/** Tell whether a store call failed because of its own request, with the store still serving. */
export function isRequestInvalid(error: unknown): error is RiskgateError {
  return error instanceof RiskgateError && error.code === 'RG_ERR_STORE_REQUEST_INVALID';
}

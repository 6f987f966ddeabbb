/** Longest string value written into a decision line; longer values are cut and flagged. */
export const MAX_LOG_VALUE_LENGTH = 256;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators. JSON.stringify
// escapes C0 controls but writes U+0085, U+2028 and U+2029 as they are, and some line
// readers split on them.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u001b]/g;
const UNSAFE_ANY = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u001b]/;

/** Return true when `value` goes into a log line unchanged: short enough and no unsafe character. */
export function isLogSafe(value: string): boolean {
  return value.length <= MAX_LOG_VALUE_LENGTH && !UNSAFE_ANY.test(value);
}

/**
 * Make a client-supplied string safe for one log line: control and separator characters
 * become visible `\uXXXX` text, and the result is cut to `MAX_LOG_VALUE_LENGTH`.
 */
export function sanitizeLogValue(value: string): { text: string; truncated: boolean } {
  const truncated = value.length > MAX_LOG_VALUE_LENGTH;
  const cut = truncated ? value.slice(0, MAX_LOG_VALUE_LENGTH) : value;
  const text = cut.replace(UNSAFE, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return { text, truncated };
}

/** Longest string value written into a decision line; longer values are cut and flagged. */
export const MAX_LOG_VALUE_LENGTH = 256;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators. JSON.stringify
// escapes C0 controls but writes U+0085, U+2028 and U+2029 as they are, and some line
// readers split on them.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u001b]/g;
const UNSAFE_ANY = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u001b]/;
// A high surrogate without its low half, or a low surrogate without its high half: text that
// is not Unicode, which strict JSON readers reject.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const LONE_SURROGATE_ANY = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Return true when `value` goes into a log line unchanged: short enough and no unsafe character. */
export function isLogSafe(value: string): boolean {
  return value.length <= MAX_LOG_VALUE_LENGTH && !UNSAFE_ANY.test(value) && !LONE_SURROGATE_ANY.test(value);
}

/**
 * Make a client-supplied string safe for one log line: control and separator characters
 * become visible `\uXXXX` text, and the result is cut to `MAX_LOG_VALUE_LENGTH`.
 */
export function sanitizeLogValue(value: string): { text: string; truncated: boolean } {
  const truncated = value.length > MAX_LOG_VALUE_LENGTH;
  // A cut between the two halves of a surrogate pair would leave a lone surrogate, so the
  // first half goes too.
  const cut = truncated ? value.slice(0, MAX_LOG_VALUE_LENGTH).replace(/[\ud800-\udbff]$/, '') : value;
  const visible = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
  const text = cut.replace(UNSAFE, visible).replace(LONE_SURROGATE, visible);
  return { text, truncated };
}


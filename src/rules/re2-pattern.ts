import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';

/**
 * Maximum number of compiled patterns kept. A rule set names a few literal patterns, so
 * the bound matters only for patterns built from signal values, which can differ on every
 * login.
 */
export const MAX_CACHED_PATTERNS = 256;

/** Error code of an invalid pattern, the one cel-js uses for the same failure. */
export const INVALID_PATTERN_CODE = 'invalid_regular_expression';

/** A pattern that RE2 cannot compile, with RE2's reason. */
export class PatternError extends Error {
  readonly code = INVALID_PATTERN_CODE;

  constructor(
    readonly pattern: string,
    /** RE2's reason, such as "missing closing )", with the part of the pattern it concerns. */
    readonly reason: string,
  ) {
    super(`invalid RE2 pattern: ${reason}`);
    this.name = 'PatternError';
  }
}

// Insertion order is use order: a hit moves its entry to the end, so the first key is the
// least recently used one.
const compiled = new Map<string, RE2JS>();

/**
 * Compile `pattern` as RE2 syntax, or throw PatternError. At most MAX_CACHED_PATTERNS
 * compiled patterns are cached, and the least recently used one is evicted first.
 */
export function compilePattern(pattern: string): RE2JS {
  const cached = compiled.get(pattern);
  if (cached) {
    compiled.delete(pattern);
    compiled.set(pattern, cached);
    return cached;
  }

  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern);
  } catch (error) {
    if (error instanceof RE2JSException) throw new PatternError(pattern, describeRe2Error(error));
    throw error;
  }
  if (compiled.size >= MAX_CACHED_PATTERNS) {
    compiled.delete(compiled.keys().next().value as string);
  }
  compiled.set(pattern, regex);
  return regex;
}

/**
 * Test whether `pattern` matches any part of `text`, as CEL's `matches` does. RE2 runs in
 * time linear in the length of the text, so no pattern can make one login take
 * exponential time.
 */
export function matchesPattern(text: string, pattern: string): boolean {
  return compilePattern(pattern).test(text);
}

function describeRe2Error(error: RE2JSException): string {
  if (error instanceof RE2JSSyntaxException) {
    return error.input ? `${error.error} at \`${error.input}\`` : error.error;
  }
  return error.message;
}

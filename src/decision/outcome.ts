/** Classify an app's status code as a login success or failure by the route's lists. */
export function classifyStatus(
  status: number,
  success: readonly string[],
  failure: readonly string[],
): 'success' | 'failure' | 'unknown' {
  if (matches(status, failure)) return 'failure';
  if (matches(status, success)) return 'success';
  return 'unknown';
}

function matches(status: number, patterns: readonly string[]): boolean {
  const text = String(status);
  return patterns.some((pattern) =>
    pattern.endsWith('xx') ? text[0] === pattern[0] && text.length === 3 : pattern === text,
  );
}

/**
 * Match an HTTP status against a route's status list. An entry is a code (`302`), a class
 * (`4xx`), or either prefixed with `!` to exclude it (`!429`). A status matches when some
 * entry without `!` matches it and no `!` entry does.
 */
export function statusListMatches(status: number, entries: readonly string[]): boolean {
  let included = false;
  for (const entry of entries) {
    if (entry.startsWith('!')) {
      if (statusPatternMatches(status, entry.slice(1))) return false;
    } else if (statusPatternMatches(status, entry)) {
      included = true;
    }
  }
  return included;
}

function statusPatternMatches(status: number, pattern: string): boolean {
  const text = String(status);
  return pattern.endsWith('xx') ? text.length === 3 && text[0] === pattern[0] : pattern === text;
}

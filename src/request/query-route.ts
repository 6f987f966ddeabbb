import { formParserReadingAs } from './field-names.js';

/**
 * Request paths that some PHP frameworks take from the query string instead of the path.
 * CodeIgniter 3 and 4 read `/?/login` and `/index.php?/login&x=1` as /login (a query that
 * starts with `/`, up to its first `&`), and with `uri_protocol = QUERY_STRING` they read
 * `/?login` the same way. Drupal 7 routes every request by its `q` parameter, so
 * `/anything?q=user/login` is /user/login, and PHP reads ` q` and `q%00x` as `q` too.
 */
export function queryRoutedTargets(url: string): string[] {
  const start = url.indexOf('?');
  if (start === -1) return [];
  const query = url.slice(start + 1);
  const targets: string[] = [];

  const end = query.indexOf('&');
  const first = end === -1 ? query : query.slice(0, end);
  if (first.startsWith('/')) targets.push(first);
  else if (first !== '' && !first.includes('=')) targets.push(`/${first}`);

  // Most queries have no key with a `q` in it, and parsing them all would cost every request.
  if (!/(?:^|[&;])[^&=;]*(?:q|%71)/i.test(query)) return targets;

  for (const [name, value] of new URLSearchParams(query)) {
    if (name !== 'q' && formParserReadingAs(name, 'q') === undefined) continue;
    // The value is decoded once already, so it goes on as a path with its escapes re-applied.
    targets.push(`/${encodeURI(value.replace(/^\/+/, ''))}`);
  }
  return targets;
}

/**
 * Return a query-routed target with its empty, `.` and `..` segments dropped, as
 * CodeIgniter's URI class drops them, or undefined when it does not decode.
 */
export function withoutDotSegments(target: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(target);
  } catch {
    return undefined;
  }
  const segments = decoded.split(/[/\\]/).filter((segment) => segment.trim() !== '' && !/^\.\.?(?:;.*)?$/.test(segment.trim()));
  return `/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
}

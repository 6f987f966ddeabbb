import type { LoginRoute } from '../config/types.js';
import { isDirectoryIndexName, isScriptName, loginPathAliases } from '../request/served-files.js';

/** A file extension that a server may add to a login path's stem, such as `.html` or `.json`. */
const SHORT_EXTENSION = /^([^.]+)\.[a-z]{1,10}$/;

const routeSegments = new WeakMap<ReadonlyMap<string, LoginRoute>, ReadonlySet<string>>();

/**
 * Return the path of a login to log, without the query. Only the segments of the login
 * routes' paths and the names that servers run for them (`index.php`, `login.html`) are
 * logged as sent. Every other segment is `*`, because apps put usernames, reset tokens and
 * session ids in path segments (`/login/alice`, `/login/reset/<token>`, `/(S(id))/login`).
 * Matrix parameters (`;jsessionid=...`, also encoded as `%3B`) are dropped.
 */
export function loggedLoginPath(url: string | undefined, routes: ReadonlyMap<string, LoginRoute>): string {
  const target = url ?? '/';

  // An encoded query mark may hide a query too, so the log keeps only what comes before it.
  const end = target.search(/\?|%3f|%23/i);
  let path = end === -1 ? target : target.slice(0, end);
  if (path.includes(';') || /%3b/i.test(path)) path = path.replace(/(?:;|%3b)[^/]*/gi, '');

  const known = segmentsOf(routes);
  return path.split('/').map((segment) => (isKnownSegment(segment, known) ? segment : '*')).join('/');
}

function isKnownSegment(segment: string, known: ReadonlySet<string>): boolean {
  if (segment === '' || segment === '.' || segment === '..') return true;
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment).normalize('NFKC').toLowerCase();
  } catch {
    return false;
  }
  if (known.has(decoded) || isDirectoryIndexName(decoded) || isScriptName(decoded)) return true;
  const stem = SHORT_EXTENSION.exec(decoded)?.[1];
  return stem !== undefined && known.has(stem);
}

/** Return the lower-case segments of every login path and of the paths that reach one, built once per route map. */
function segmentsOf(routes: ReadonlyMap<string, LoginRoute>): ReadonlySet<string> {
  const cached = routeSegments.get(routes);
  if (cached) return cached;

  const segments = new Set<string>();
  for (const key of routes.keys()) {
    const path = key.slice(key.indexOf(' ') + 1);
    for (const reaching of [path, ...loginPathAliases(path).map((alias) => alias.path)]) {
      for (const segment of reaching.split('/')) if (segment !== '') segments.add(segment.toLowerCase());
    }
  }
  routeSegments.set(routes, segments);
  return segments;
}

/**
 * Return a redirect's path to log, so an operator can list it as a route's location. Apps
 * carry session ids, one-time tokens, user ids and e-mail addresses in redirect paths too
 * (`;jsessionid=...`, ASP.NET's `/(S(id))/`, `/continue/<token>`, `/profile/<e-mail>`), so
 * matrix parameters are dropped. Only segments of words are kept: one with a digit, a
 * parenthesis, an `@`, a percent escape or more than 24 characters is `*`.
 */
export function loggedRedirectPath(path: string): string {
  return path.replace(/(?:;|%3b)[^/]*/gi, '')
    .split('/')
    .map((segment) => (/[\d(@%]/.test(segment) || segment.length > 24 ? '*' : segment))
    .join('/');
}

import type { LoginRoute } from '../config/types.js';
import { normalizeUsername } from '../request/username.js';
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
  for (const [key, route] of routes) {
    const path = key.slice(key.indexOf(' ') + 1);
    // The path as configured too, since reading it may have changed a segment (`oauth2` reads as `v2`).
    for (const reaching of [path, route.path, ...loginPathAliases(path).map((alias) => alias.path)]) {
      for (const segment of reaching.split('/')) if (segment !== '') segments.add(segment.toLowerCase());
    }
  }
  routeSegments.set(routes, segments);
  return segments;
}

/**
 * Words that login redirects are made of, such as `/wp-admin/` or `/account/home`. A segment
 * of a redirect is logged only when it is made of these, since any other word may be a
 * secret: apps put one-time tokens of letters alone in redirect paths too (`/magic/<token>`).
 */
const REDIRECT_WORDS = new Set(`
  account accounts admin app apps auth authorize blocked callback captcha cart challenge checkout
  confirm consent continue dashboard default denied done error errors factor failed failure forgot
  home htm html inbox index invalid jsp landing locked lockout login logins logon logout main me
  member members mfa my next oauth otp overview page pages password people php portal profile
  profiles redirect reset return secure session sessions settings signin signon signup site sso
  start step success totp two up user users validate validation verification verify welcome wp www
  aspx asp cgi bin dologin do action`.split(/\s+/).filter((word) => word !== ''));

/**
 * Return a redirect's path to log, so an operator can list it as a route's location. Apps
 * carry session ids, one-time tokens, user ids and e-mail addresses in redirect paths
 * (`;jsessionid=...`, ASP.NET's `/(S(id))/`, `/continue/<token>`, `/profile/<e-mail>`), so
 * matrix parameters are dropped, and a segment is kept only when its words are common
 * redirect words (REDIRECT_WORDS) or segments of the route's own paths in `known`, or when
 * it has at most two characters. Every other segment is `*`. A segment that names
 * `username` (see namesUser) is kept only with `showUsername`, for a log that shows
 * usernames, since apps redirect to a page per user (`/u/alice`).
 */
export function loggedRedirectPath(
  path: string,
  options: { username?: string; showUsername?: boolean; known?: ReadonlySet<string> } = {},
): string {
  const forms = options.username === undefined ? [] : usernameForms(options.username);
  return path.replace(/(?:;|%3b)[^/]*/gi, '')
    .split('/')
    .map((segment) => {
      if (segment === '' || /[\d(@%]/.test(segment) || segment.length > 24) return segment === '' ? '' : '*';
      if (namesUser(segment, forms)) return options.showUsername ? segment : '*';
      return segment.length <= 2 || isRedirectWord(segment, options.known) ? segment : '*';
    })
    .join('/');
}

/** Tell whether each word of a segment, split at `-`, `_` and `.`, is a common redirect word or a known segment. */
function isRedirectWord(segment: string, known: ReadonlySet<string> | undefined): boolean {
  const lower = segment.toLowerCase();
  if (known?.has(lower) || REDIRECT_WORDS.has(lower)) return true;
  return lower.split(/[-_.]/).every((word) => word === '' || REDIRECT_WORDS.has(word) || known?.has(word) === true);
}

/** Minimum length of the shorter text when a segment and a username are compared by containment. */
const MIN_NAME_MATCH = 3;

/** Return a username's letters and digits, and those of the part before its `@`, folded as usernames are. */
function usernameForms(username: string): string[] {
  const at = username.lastIndexOf('@');
  const forms = [lettersOf(username), ...(at > 0 ? [lettersOf(username.slice(0, at))] : [])];
  return forms.filter((form) => form !== '');
}

/**
 * Tell whether a path segment names the user: its letters and digits equal a form of the
 * username, or one contains the other, when the shorter has at least MIN_NAME_MATCH of them.
 * So `/u/John.Smith`, `/u/john-smith` and `/u/john` all name `john.smith@example.com`.
 */
function namesUser(segment: string, forms: readonly string[]): boolean {
  if (forms.length === 0) return false;
  const letters = lettersOf(segment);
  if (letters === '') return false;
  return forms.some((form) => letters === form ||
    (Math.min(letters.length, form.length) >= MIN_NAME_MATCH && (letters.includes(form) || form.includes(letters))));
}

function lettersOf(text: string): string {
  return normalizeUsername(text).replace(/[^\p{L}\p{N}]/gu, '');
}

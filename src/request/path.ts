import { trimTrailing } from './linear-text.js';
import { isNumericRegionLocale } from './locale-prefix.js';
import { DEFAULT_USERNAME_NORMALIZATION, normalizeUsername, type UsernameNormalization } from './username.js';

/**
 * Path normalisation for login-route matching. Apps and frameworks differ in how they read a
 * path (case, trailing slash, percent-encoding, dot segments, matrix parameters, format
 * suffixes), so riskgate matches on the loosest common reading: a request that any of them
 * would route to a login path is judged as a login. A path whose reading is ambiguous is
 * rejected rather than guessed.
 */
export type PathReading = { path: string } | { invalid: string };

/**
 * A segment of one or more `X(value)` groups in parentheses, as ASP.NET's cookieless mode
 * writes them. Lower case matches too, because the path is case-folded before it is split.
 */
const COOKIELESS_SEGMENT = /^\((?:[a-z]\([^()/;]*\))+\)$/i;

/** The start of an ASP.NET cookieless group, at the start of a segment. */
const COOKIELESS_START = /^\([a-z]\(/i;

/**
 * A segment that names an API version: up to three numbers after a prefix of letters, `-` and
 * `_`, such as `v1`, `v1.0`, `v01`, `1`, `version-1` or `api1`. ASP.NET API Versioning reads `v1.0` as
 * `v1`. Spring Framework 7's path-segment versioning skips every character before the first
 * digit, reads any Unicode decimal digit (`v١`) and reads missing parts as 0.
 */
const API_VERSION_SEGMENT = /^[\p{L}_-]*(\p{Nd}+)(?:\.(\p{Nd}+))?(?:\.(\p{Nd}+))?$/u;

/** A Unicode decimal digit. */
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Largest version part that Java's Integer.parseInt reads. A larger one is not a version. */
const MAX_VERSION_PART = 2 ** 31 - 1;

/**
 * Return a version segment in one spelling (`v1`, `v1.2`), or undefined for another segment.
 * A segment with other characters before its number stays as it is: PHP runs `index.php5`
 * with PATH_INFO, and `login.mp4`, `login!x1` and `login:x1` reach the login as suffixes.
 */
function apiVersion(segment: string): string | undefined {
  const match = API_VERSION_SEGMENT.exec(segment);
  if (!match) return undefined;
  const parts = match.slice(1).map((part) => (part === undefined ? 0 : decimalValue(part)));
  if (parts.some((part) => part > MAX_VERSION_PART)) return undefined;
  while (parts.length > 1 && parts.at(-1) === 0) parts.pop();
  return `v${parts.join('.')}`;
}

/**
 * Read a run of Unicode decimal digits as a number. Unicode encodes each script's digits as
 * runs of ten from 0 to 9, some of them back to back, so a digit's value is its distance from
 * the start of its run, modulo 10.
 */
function decimalValue(digits: string): number {
  let value = 0;
  for (const digit of digits) {
    const code = digit.codePointAt(0)!;
    if (code <= 0x39) {
      value = value * 10 + (code - 0x30);
      continue;
    }
    let zero = code;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero -= 1;
    value = value * 10 + ((code - zero) % 10);
  }
  return value;
}

/** A Windows 8.3 short name (`WP-LOG~1.PHP`), which IIS serves as the long name it stands for. */
const SHORT_NAME_SEGMENT = /^[^~.]{1,6}~\d+(?:\.[^.]{0,3})?$/;

/**
 * Normalise the path part of a request target: decode, drop matrix parameters, lower-case,
 * trim `/`. A dot segment or a leading `//` makes the path unreadable. With `apiVersions:
 * false`, version segments stay as written: a page an app redirects to is named by the app,
 * and reading `/step2` and `/error2` both as `/v2` would take one page for the other.
 */
export function normalizePath(target: string, options: { apiVersions?: boolean } = {}): PathReading {
  // RFC 9112 allows no fragment in a request target; an app that keeps `#` as text and
  // then resolves dot segments reads `/x#/../login` as /login.
  if (target.includes('#')) {
    return { invalid: 'the request target contains "#"' };
  }
  const end = target.indexOf('?');
  const raw = end === -1 ? target : target.slice(0, end);

  if (!raw.startsWith('/')) {
    return { invalid: 'the request target must be a path starting with /' };
  }
  // WHATWG URL parsing, which Node's documentation recommends for req.url, reads `//x/login`
  // as host x and path /login.
  if (raw.startsWith('//') || raw.startsWith('/%2f') || raw.startsWith('/%2F')) {
    return { invalid: 'the path starts with "//", which URL parsers read as a host' };
  }

  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { invalid: 'the path has invalid percent-encoding' };
  }

  if (/[\u0000-\u001f\u007f\\]/.test(decoded)) {
    return { invalid: 'the path contains a control character or a backslash' };
  }
  // Folding can uncover a backslash or percent sign: NFKC reads `＼` and `％` as `\` and `%`.
  const folded = foldPath(decoded);
  if (folded.includes('\\')) {
    return { invalid: 'the path contains a character that reads as a backslash' };
  }
  if (/%[0-9a-fA-F]{2}/.test(folded)) {
    return { invalid: 'the path is percent-encoded twice' };
  }

  const segments: string[] = [];
  for (const segment of folded.split('/')) {
    // Older ASP.NET releases take any text but `/` and `)` as a cookieless value, so `;` and
    // `(` too, and remove a `/(X(value))` group also where it ends inside a segment
    // (`/lo/(S(x))gin` is /login). Only a whole segment of the strict form is read here.
    if (COOKIELESS_START.test(segment) && !COOKIELESS_SEGMENT.test(segment)) {
      return { invalid: 'the path has an ASP.NET cookieless group "/(X(" that is not a whole segment such as "/(S(abc))"' };
    }
    // Servlet containers drop matrix parameters (`/login;jsessionid=x`) before they resolve
    // dot segments, so `/x/..;/login` reaches /login there and must be read that way here.
    // Spring's AntPathMatcher with trimTokens trims each segment, so `/login%20` reaches /login.
    const name = segment.split(';')[0].trim();
    // ASP.NET (System.Web) removes a cookieless-session segment such as `(S(abc))` from
    // every path before routing, so `/(S(abc))/Account/Login` reaches /Account/Login.
    if (name === '' || COOKIELESS_SEGMENT.test(name)) continue;
    // Servlet containers resolve `..;`, PHP's PATH_INFO and Express's `/login/:step?` keep
    // `..` as text, and WHATWG parsing keeps the empty segment in `/login//..`, so no one
    // reading of a dot segment holds for every app.
    if (name === '.' || name === '..') {
      return { invalid: 'the path has a dot segment ("." or ".."), which apps resolve in different ways' };
    }
    if (SHORT_NAME_SEGMENT.test(name)) {
      return { invalid: 'a path segment reads as a Windows short name (NAME~1.EXT), which IIS serves as the long name it stands for' };
    }
    // Windows drops trailing dots and spaces from a file name, so IIS and PHP on Windows
    // serve `/login .` and `/login. .` as /login.
    const windowsName = trimTrailing(name, '. ');
    if (windowsName === '') {
      return { invalid: 'a path segment is only dots and spaces, which Windows reads as an empty name' };
    }
    // A language tag with a numeric region (`es-419`) stays as written, so that it still
    // reads as a locale. withApiVersions gives the path with it read as a version.
    const readsAsVersion = options.apiVersions !== false && !isNumericRegionLocale(windowsName);
    segments.push((readsAsVersion ? apiVersion(windowsName) : undefined) ?? windowsName);
  }
  // NTFS reads `dir::$INDEX_ALLOCATION` and `dir:$I30:$INDEX_ALLOCATION` as the directory
  // itself, so IIS serves /portal::$INDEX_ALLOCATION/login as /portal/login. The last
  // segment is read without its stream by the route matcher instead.
  if (segments.slice(0, -1).some((segment) => segment.includes(':$'))) {
    return { invalid: 'a directory segment names an NTFS stream (":$"), which Windows reads as the directory itself' };
  }

  return { path: `/${segments.join('/')}` };
}

/** A segment that ends in three digits after `-` or `_`, as a numeric region does. */
const NUMERIC_REGION_END = /\/([^/]*[-_][0-9]{3})(?=\/|$)/g;

/**
 * Return a normalised path with each language tag that has a numeric region read as an API
 * version, or undefined when it has none. Spring Framework 7 reads `/en-001/login` as
 * version 1, and locale prefixes read it as English, so both readings are matched.
 */
export function withApiVersions(normalizedPath: string): string | undefined {
  let read = false;
  const versioned = normalizedPath.replace(NUMERIC_REGION_END, (segment: string, name: string) => {
    const version = isNumericRegionLocale(name) ? apiVersion(name) : undefined;
    if (version === undefined) return segment;
    read = true;
    return `/${version}`;
  });
  return read ? versioned : undefined;
}

/** The username folding without trim, since white space inside a path is part of a segment. */
const PATH_FOLDING: UsernameNormalization = { ...DEFAULT_USERNAME_NORMALIZATION, trim: false };

/**
 * Fold a decoded path as the loosest app reads it. Java's case-insensitive matching folds
 * `ı`, `ſ` and `İ` to `i`, `s` and `i`. Accent-insensitive database collations, where Drupal
 * looks up its paths and aliases, read `/üser/login`, `/lo\u00adgin` (a soft hyphen) and
 * `/ｌogin` (full width) as /user/login and /login. The username folding covers all of
 * these: NFKC, ignorable characters removed, accents and case folded.
 */
function foldPath(path: string): string {
  if (/^[\x00-\x7f]*$/.test(path)) return path.toLowerCase();
  return normalizeUsername(path, PATH_FOLDING, 'text');
}

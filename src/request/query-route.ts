import { formParserMayRead, formParserReadingAs } from './field-names.js';
import { trimTrailing } from './linear-text.js';
import { normalizePath } from './path.js';

/** A query parameter that a PHP front controller routes by, and the paths it reads its value under. */
interface RouteParameter {
  name: string;
  /** Prefixes to read the value under, once it starts with one `/`. The empty prefix reads it as the path itself. */
  prefixes: readonly string[];
}

/**
 * Query parameters that PHP front controllers route every request by, so that
 * `/anything?q=user/login` runs /user/login. Drupal 7 reads `q`, ThinkPHP `s` (its
 * `var_pathinfo`), Phalcon `_url`, Yii `r` (`r=site/login` without pretty URLs), and
 * OpenCart `route` and `_route_` (the parameter its SEO URL rewrite fills). WordPress
 * serves `?rest_route=/x` as the REST API path /wp-json/x.
 */
const ROUTE_PARAMETERS: readonly RouteParameter[] = [
  { name: 'q', prefixes: [''] },
  { name: 's', prefixes: [''] },
  { name: '_url', prefixes: [''] },
  { name: 'r', prefixes: [''] },
  { name: 'route', prefixes: [''] },
  { name: '_route_', prefixes: [''] },
  { name: 'rest_route', prefixes: ['', '/wp-json'] },
];

/**
 * Request paths that some PHP frameworks take from the query string instead of the path.
 * CodeIgniter 3 and 4 read `/?/login` and `/index.php?/login&x=1` as /login (a query that
 * starts with `/`, up to its first `&`), and with `uri_protocol = QUERY_STRING` they read
 * `/?login` the same way. The parameters in ROUTE_PARAMETERS are read too, under each name
 * that some parser reads as theirs: PHP reads ` q` and `q%00x` as `q`, and `rest.route`
 * as `rest_route`.
 */
export function queryRoutedTargets(url: string, restPaths: readonly string[] = []): string[] {
  const start = url.indexOf('?');
  if (start === -1) return [];
  const query = url.slice(start + 1);
  const targets: string[] = [];

  const end = query.indexOf('&');
  const first = end === -1 ? query : query.slice(0, end);
  if (first.startsWith('/')) targets.push(first);
  else if (first !== '' && !first.includes('=')) targets.push(`/${first}`);

  // Most queries have no key that reads as a routing parameter, and parsing them all would cost every request.
  if (!ROUTE_PARAMETER_KEY.test(query)) return targets;

  let parameters = 0;
  for (const [key, value] of queryFields(query)) {
    const parameter = ROUTE_PARAMETERS.find(({ name }) => readsAs(key, name));
    if (!parameter) continue;
    parameters += 1;
    if (parameters > MAX_QUERY_ROUTES) {
      throw new UnreadableRoute(`the query has more than ${MAX_QUERY_ROUTES} routing parameters (q, s, r, route, rest_route and the like)`);
    }
    targets.push(...parameterTargets(parameter, value, restPaths));
  }
  return targets;
}

/** Maximum number of routing parameters read in one query: each is read as several paths. */
const MAX_QUERY_ROUTES = 20;

/**
 * Return a query's fields as split at `&`, then, if it has a `;`, as split at `&` and `;` too.
 * PHP splits at each character of arg_separator.input, and hosts that set it to `;&` read
 * `?x=1;q=login` as q=login.
 */
export function queryFields(query: string): [string, string][] {
  const fields = [...new URLSearchParams(query)];
  if (query.includes(';')) fields.push(...new URLSearchParams(query.replaceAll(';', '&')));
  return fields;
}

/**
 * Return each routed target both from the root and under the directories that a front
 * controller at the request's path may serve. A front controller in a subdirectory routes
 * relative to it: CodeIgniter in /portal reads `/portal/?/login` and
 * `/portal/index.php?/login` as /portal/login, and WordPress in /blog serves
 * `/blog/?rest_route=/x` as /blog/wp-json/x. The path itself counts as a directory too,
 * since nginx's `try_files $uri $uri/` runs /portal's index file for `/portal?/login`.
 */
export function withRouteBases(url: string, targets: readonly string[]): string[] {
  if (targets.length === 0) return [];
  const end = url.indexOf('?');
  const path = trimTrailing(end === -1 ? url : url.slice(0, end), '/');
  const bases = new Set(['', path, path.slice(0, Math.max(0, path.lastIndexOf('/')))]);
  const based: string[] = [];
  for (const base of bases) {
    for (const target of targets) based.push(`${base}${target}`);
  }
  return based;
}

/**
 * Routing parameters that their frameworks also read from a form body: WordPress takes
 * `rest_route` from $_POST as well as $_GET, and Yii 1.1's CHttpRequest::getParam reads `r`
 * from either.
 */
const BODY_ROUTE_PARAMETERS = ROUTE_PARAMETERS.filter(({ name }) => name === 'rest_route' || name === 'r');

/** Return the body routing parameter that a form field name reads as, or undefined. `key` must be decoded. */
export function bodyRouteParameter(key: string): string | undefined {
  return BODY_ROUTE_PARAMETERS.find(({ name }) => readsAs(key, name))?.name;
}

/**
 * Return false when no parser can read a decoded form field name as a body routing
 * parameter, by a quick check: most names end here, and bodyRouteParameter reads the rest.
 */
export function mayBeBodyRouteParameter(key: string): boolean {
  return BODY_ROUTE_PARAMETERS.some(({ name }) => key === name || formParserMayRead(key, name));
}

/** Return the paths that a body routing parameter's value routes to, as queryRoutedTargets reads a query's. */
export function bodyRoutedTargets(name: string, value: string, restPaths: readonly string[] = []): string[] {
  const parameter = BODY_ROUTE_PARAMETERS.find((entry) => entry.name === name);
  return parameter ? parameterTargets(parameter, value, restPaths) : [];
}

function readsAs(key: string, name: string): boolean {
  return key === name || formParserReadingAs(key, name) !== undefined;
}

/** Maximum NFKC length of a routing value that expands to more than twice its own length. */
const MAX_EXPANDED_ROUTE = 1024;

/** Maximum length of a routing value, decoded. Routes are short paths, and each value is read as several. */
const MAX_ROUTE_LENGTH = 512;

/** The reason a routing value cannot be read: riskgate refuses its request. */
export class UnreadableRoute extends Error {}

/**
 * Return the paths a parameter's value routes to, with `rest_route` also under the start of
 * each of `restPaths` that ends with its reading (see LoginPathIndex). Each target is folded
 * per character, so a long value costs many times its size. UnreadableRoute is thrown for a
 * value over MAX_ROUTE_LENGTH characters. It is also thrown for one that NFKC expands past
 * MAX_EXPANDED_ROUTE characters and to more than twice its length (U+FDFA becomes 18).
 */
function parameterTargets(parameter: RouteParameter, value: string, restPaths: readonly string[]): string[] {
  if (value.length > MAX_ROUTE_LENGTH) {
    throw new UnreadableRoute(`the ${parameter.name} value has ${value.length} characters, more than riskgate reads as a route (${MAX_ROUTE_LENGTH})`);
  }
  if (value.length * 18 > MAX_EXPANDED_ROUTE) {
    const expanded = value.normalize('NFKC').length;
    if (expanded > MAX_EXPANDED_ROUTE && expanded > 2 * value.length) {
      throw new UnreadableRoute(`the ${parameter.name} value has ${value.length} characters and NFKC expands them to ${expanded}, ` +
        `more than riskgate reads as a route (${MAX_EXPANDED_ROUTE})`);
    }
  }
  const targets: string[] = [];
  for (const reading of routeValueReadings(value.replace(/^\/+/, ''))) {
    // The value is decoded once already, so it goes on as a path with its escapes re-applied.
    const path = `/${encodeURI(reading)}`;
    for (const prefix of parameter.prefixes) targets.push(`${prefix}${path}`);
    if (parameter.name === 'rest_route' && restPaths.length > 0) targets.push(...underRestPrefixes(path, restPaths));
  }
  return targets;
}

/** Return `path` under the start of each of `restPaths` whose end it reads as. */
function underRestPrefixes(path: string, restPaths: readonly string[]): string[] {
  const reading = normalizePath(path);
  if (!('path' in reading) || reading.path === '/') return [];
  const end = reading.path;
  return restPaths
    .filter((restPath) => restPath.length > end.length && restPath.endsWith(end))
    .map((restPath) => `${restPath.slice(0, restPath.length - end.length)}${path}`);
}

/**
 * Return the routes that front controllers read from one parameter value: the value itself,
 * without a final newline, with `|` as `/` (ThinkPHP reads `user|login` as user/login), and with the characters
 * OpenCart drops removed. OpenCart 3 keeps only letters, digits, `_` and `/`, and OpenCart 4
 * keeps `.` and `|` too, reading `|` as `.`, so `account/log-in` runs account/login there.
 */
function routeValueReadings(value: string): Set<string> {
  return new Set([
    value,
    // WordPress matches routes with PCRE's `$`, which also matches before a final newline.
    value.replace(/\n$/, ''),
    value.replaceAll('|', '/'),
    value.replace(/[^A-Za-z0-9_/.|]/g, '').replaceAll('|', '.'),
    value.replace(/[^A-Za-z0-9_/]/g, ''),
  ]);
}

/**
 * Return the path of a request target with each `|` read as `/`, as ThinkPHP reads its
 * PATH_INFO (`/index.php/user|login` runs user/login), or undefined when it has none.
 */
export function pipeSeparatedPath(url: string): string | undefined {
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  if (!/\||%7c/i.test(path)) return undefined;
  return path.replace(/\||%7c/gi, '/');
}

/**
 * Return a regular expression source that matches one character of a parameter name as it
 * may be written in a raw query: itself in either case, percent-encoded, or as a character
 * that a parser in formParserReadingAs reads as it. PHP turns ` ` (`+`), `.` and `[` in a
 * key into `_`, and a case-insensitive binder folds `ſ` (U+017F) into `s`.
 */
function keyCharacterPattern(character: string): string {
  if (character === '_') return '(?:[_ +.[]|%5f|%20|%2e|%5b)';
  const spellings = [character, percentEncoded(character.toLowerCase()), percentEncoded(character.toUpperCase())];
  if (character === 's') spellings.push('\u017f', '%c5%bf');
  return `(?:${spellings.join('|')})`;
}

/**
 * Return a regular expression source that matches a parameter name as it may be written in
 * a raw query (see keyCharacterPattern). A case-insensitive binder also folds the ligatures
 * `ﬅ` and `ﬆ` (U+FB05, U+FB06) into `st`.
 */
function keyNamePattern(name: string): string {
  let pattern = '';
  for (let index = 0; index < name.length; index += 1) {
    if (name.startsWith('st', index)) {
      pattern += `(?:${keyCharacterPattern('s')}${keyCharacterPattern('t')}|[\ufb05\ufb06]|%ef%ac%8[56])`;
      index += 1;
    } else {
      pattern += keyCharacterPattern(name[index]);
    }
  }
  return pattern;
}

function percentEncoded(character: string): string {
  return `%${character.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * Match a raw query with a key that some parser may read as a routing parameter. Such a key
 * may start with spaces (PHP, Rack), brackets (qs, Rack) or a dot (qs with allowDots). The
 * name follows, and the key ends there or goes on after `[`, `]` or `.`, which nest a value
 * under the name, or after NUL, where PHP cuts a key. The test runs in one pass over the
 * query, so most requests skip parsing it, and it may match a key that no parser reads as
 * the name.
 */
const ROUTE_PARAMETER_KEY = new RegExp(
  '(?:^|[&;])(?:[ +.[\\]]|%20|%2e|%5b|%5d)*' +
    `(?:${ROUTE_PARAMETERS.map(({ name }) => keyNamePattern(name)).join('|')})` +
    '(?:$|[=&;[\\].\\0]|%00|%2e|%5b|%5d)',
  'i',
);

/**
 * Return two readings of a query-routed target with dot segments. The first drops its
 * empty, `.` and `..` segments, as CodeIgniter 3's URI class does. The second resolves each
 * `..` against the segment before, as CodeIgniter 4's `removeDotSegments` does, so
 * `x/../login` is login. Returns no reading when the target does not decode.
 */
export function dotSegmentReadings(target: string): string[] {
  let decoded: string;
  try {
    decoded = decodeURIComponent(target);
  } catch {
    return [];
  }
  const isDot = (segment: string) => /^\.\.?(?:;.*)?$/.test(segment.trim());
  const segments = decoded.split(/[/\\]/).filter((segment) => segment.trim() !== '');
  const dropped = segments.filter((segment) => !isDot(segment));
  const resolved: string[] = [];
  for (const segment of segments) {
    if (segment.trim().startsWith('..') && isDot(segment)) resolved.pop();
    else if (!isDot(segment)) resolved.push(segment);
  }
  const path = (list: string[]) => `/${list.map((segment) => encodeURIComponent(segment)).join('/')}`;
  return [path(dropped), path(resolved)];
}

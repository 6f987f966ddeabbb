import type { Logger } from 'pino';

import { DeviceCookies } from '../challenge/device-cookie.js';
import type { StepUpVerifier } from '../challenge/step-up.js';
import type { GatewayConfig, GatewayMode, LoginRoute } from '../config/types.js';
import { GatewayKeys } from '../crypto/keys.js';
import { TrustedProxies } from '../request/client-ip.js';
import { containerAction, reachesContainerAction, type ContainerAction } from '../request/container-actions.js';
import { withoutLocale } from '../request/locale-prefix.js';
import { isSiteScript, withoutSite } from '../request/multisite.js';
import { withApiVersions } from '../request/path.js';
import { isDirectoryIndexName, loginPathAliases, scriptPathInfo, type LoginPathAlias } from '../request/served-files.js';
import type { RuleSet } from '../rules/compile.js';
import type { ManualMatcher } from '../admin/manual-match.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RuleErrorLog } from '../log/rule-error-log.js';
import type { GeoResolver } from '../geo/resolver.js';
import type { AccountRisk } from '../profile/account-risk.js';
import type { DataLossWatch } from '../store/data-loss.js';
import type { ResilientStore } from '../store/resilient.js';
import type { WebhookSink } from '../webhook/sink.js';
import type { UpstreamTarget } from './forward.js';

/** The parts of the config that decide a login and that a reload may change together. */
export interface LivePolicy {
  ruleSet: RuleSet;
  /** Gateway-wide mode: `monitor` allows every login and only logs what would have happened. */
  mode: GatewayMode;
}

/**
 * The policy in force. A reload swaps the whole `LivePolicy` object in one assignment, and
 * a login reads `policy` once when it arrives, so each login is scored by exactly one rule
 * set and mode however long it takes.
 */
export class RuleSetHolder {
  private live: LivePolicy;
  /** When the policy in force was loaded, in ms since the epoch. */
  loadedAt: number;
  /** The last reload that was rejected, until a later reload succeeds. */
  rejected: { at: number; errors: number } | undefined;
  /**
   * The warnings `riskgate check` prints for the rule set in force, as
   * `file:line:column: message`. Only a successful reload sets them, so they stay empty
   * until the first one.
   */
  warnings: readonly string[] = [];

  constructor(ruleSet: RuleSet, mode: GatewayMode, now: number) {
    this.live = Object.freeze({ ruleSet, mode });
    this.loadedAt = now;
  }

  get policy(): LivePolicy {
    return this.live;
  }

  /** The rule set in force. */
  get current(): RuleSet {
    return this.live.ruleSet;
  }

  replace(next: LivePolicy, now: number): void {
    this.live = Object.freeze({ ...next });
    this.loadedAt = now;
  }
}

/** Everything a request handler needs, built once at start-up. */
export interface GatewayContext {
  /** The config read at start. A reload changes only `rules` (rule files, IP lists and mode). */
  config: GatewayConfig;
  logger: Logger;
  rules: RuleSetHolder;
  store: ResilientStore;
  keys: GatewayKeys;
  trustedProxies: TrustedProxies;
  stepUp: StepUpVerifier;
  deviceCookies: DeviceCookies;
  upstream: UpstreamTarget;
  /** Login routes by `METHOD normalised-path`. */
  routes: Map<string, LoginRoute>;
  clock: () => number;
  /** Location and network of client addresses: MaxMind when configured, else geoip-lite. */
  geo: GeoResolver;
  /** Account profiles and the signals they give (account.*, travel.*). */
  accountRisk: AccountRisk;
  metrics: GatewayMetrics;
  /** Rate-limited warn lines about rules whose condition failed at run time. */
  ruleErrors: RuleErrorLog;
  /** Ids of routes already warned about a redirect that no setting classifies. */
  /** This gateway's random id in the Riskgate-Via header, which finds forwarding loops. */
  hop: string;
  unclassifiedRedirectRoutes: Set<string>;
  /** Ids of the routes already warned about for counting an HTML page as a success. */
  htmlSuccessRoutes: Set<string>;
  /** Routes already warned about a success at a path other than their own, so each is named once. */
  variantPathRoutes: Set<string>;
  /** Routes already warned about a login with a password but no username field, so each is named once. */
  missingUsernameRoutes: Set<string>;
  /** Trusted proxy addresses already warned about a login without X-Forwarded-For. */
  proxiesWithoutForwardedFor: Set<string>;
  /** Manual blocks and allows, applied before the rules. */
  manual: ManualMatcher;
  /** Detector of Redis data loss, or undefined with the memory store. */
  dataLoss?: DataLossWatch;
  /**
   * The error of the log destination's last failed write, while its writes fail. A login is
   * refused meanwhile, since its decision line would be lost.
   */
  logWriteFailure: () => NodeJS.ErrnoException | undefined;
  /**
   * With the memory store, the clock time at which it started empty. Step-up claims made
   * before are gone, so assertions issued before it are rejected as after a data loss.
   */
  memoryStoreSince?: number;
  /** Receiver of decision documents, when `webhook` is configured. */
  webhook?: WebhookSink;
}

export function routeKey(method: string, normalizedPath: string): string {
  return `${method} ${normalizedPath}`;
}

/** The login paths, with the methods their routes accept, for requests that are not logins. */
export interface LoginPathIndex {
  /** Methods by normalised login path, and by each path in loginPathAliases of one. */
  exact: Map<string, string[]>;
  /** Methods by normalised login path and alias, for routes whose subpaths are judged too. */
  below: Map<string, string[]>;
  /** Every method some login route accepts. */
  methods: Set<string>;
  /** Lengths of the login paths and aliases: a reading of another length cannot match one. */
  lengths: Set<number>;
  /** The routes' `password_field` names, in lower case. */
  passwordFields: Set<string>;
  /** The routes' `username_field` and `password_field` names, in lower case without dashes. */
  fieldHeaderNames: Set<string>;
  /**
   * The login paths, and the paths in loginPathAliases of them, with two segments or more.
   * WordPress serves `?rest_route=/x` under whatever REST prefix a site sets, so a
   * `rest_route` that one of them ends with reaches it (`/x` for /api/x).
   */
  restPaths: string[];
  /** Directory prefixes of the login paths and aliases (see segmentPrefixes). */
  prefixes: Set<string>;
  /** The container actions that login paths name (see containerAction), by method. */
  actions: { method: string; action: ContainerAction }[];
  /** True when a login path has `_`, which punctuation in a request path may stand for (see pathReadings). */
  underscores: boolean;
  /** The index of the login paths that name a PHP script, read below a multisite segment (see withoutSite). */
  siteScripts?: LoginPathIndex;
}

/**
 * The aliases of a route map, which findLoginRoute derives once per map. They are the routes
 * by the `METHOD path` keys of the paths in loginPathAliases, with the lengths of all paths.
 */
interface RouteAliases {
  aliases: Map<string, LoginRoute>;
  /** Keys of the aliases that are an index file's directory, whose subpaths are not the route's. */
  directories: Set<string>;
  lengths: Set<number>;
  /** Directory prefixes of the routes' paths and aliases (see segmentPrefixes). */
  prefixes: Set<string>;
  /** The routes that name a container action (see containerAction), by method. */
  actions: { method: string; action: ContainerAction; route: LoginRoute }[];
  /** The routes whose paths name a PHP script that multisite rewrites run below a site (see withoutSite). */
  siteScripts: ReadonlyMap<string, LoginRoute>;
  /** True when a route's path has `_`, which punctuation in a request path may stand for (see pathReadings). */
  underscores: boolean;
}

const routeAliases = new WeakMap<ReadonlyMap<string, LoginRoute>, RouteAliases>();

/** Return the aliases of a route map, built on first use. Of two routes with one alias, the first in the map has it. */
function aliasesOf(routes: ReadonlyMap<string, LoginRoute>): RouteAliases {
  const cached = routeAliases.get(routes);
  if (cached) return cached;

  const siteScripts = new Map([...routes].filter(([key]) => isSiteScript(splitRouteKey(key).path)));
  // The scripts are read below one site segment only, so their own map has no site scripts.
  if (siteScripts.size > 0) routeAliases.set(siteScripts, buildAliases(siteScripts, new Map()));
  const built = buildAliases(routes, siteScripts);
  routeAliases.set(routes, built);
  return built;
}

function buildAliases(routes: ReadonlyMap<string, LoginRoute>, siteScripts: ReadonlyMap<string, LoginRoute>): RouteAliases {
  const aliases = new Map<string, LoginRoute>();
  const directories = new Set<string>();
  for (const [key, route] of routes) {
    const { method, path } = splitRouteKey(key);
    for (const alias of [...loginPathAliases(path), ...localeAliases(path), ...punctuationAliases(path)]) {
      const aliasKey = routeKey(method, alias.path);
      if (aliases.has(aliasKey)) continue;
      aliases.set(aliasKey, route);
      if (alias.directory) directories.add(aliasKey);
    }
  }
  const paths = [...routes.keys(), ...aliases.keys()].map((key) => splitRouteKey(key).path);
  const lengths = new Set(paths.map((path) => path.length));
  const actions = [...routes].flatMap(([key, route]) => {
    const { method, path } = splitRouteKey(key);
    const action = containerAction(path, route.suffixMatch);
    return action === undefined ? [] : [{ method, action, route }];
  });
  return { aliases, directories, lengths, prefixes: segmentPrefixes(paths), actions, siteScripts, underscores: paths.some((path) => path.includes('_')) };
}

function splitRouteKey(key: string): { method: string; path: string } {
  const separator = key.indexOf(' ');
  return { method: key.slice(0, separator), path: key.slice(separator + 1) };
}

/**
 * The reading of a locale segment before a path (see withoutLocale): `never`, `only` (the
 * readings that may drop one, for a second pass), or `last`, after every other reading has
 * failed. So a path that another reading routes to one login route is never judged by
 * another one through its first segment (`/acc-ount/login`).
 */
export type LocaleReading = 'never' | 'only' | 'last';

/**
 * Find the login route that a method and a normalised path reach, trying each reading of
 * the path, then each reading of the paths above it for routes whose subpaths are judged.
 * A route is reached by its own path and by the paths in loginPathAliases.
 */
export function findLoginRoute(
  routes: ReadonlyMap<string, LoginRoute>,
  method: string,
  normalizedPath: string,
  locale: LocaleReading = 'last',
): LoginRoute | undefined {
  return routeByReadings(routes, method, pathReadings(normalizedPath, aliasesOf(routes).underscores), locale);
}

/** Find the route as findLoginRoute does, for a path read each of the ways in `paths`. */
function routeByReadings(
  routes: ReadonlyMap<string, LoginRoute>,
  method: string,
  paths: readonly string[],
  locale: LocaleReading,
): LoginRoute | undefined {
  if (locale !== 'only') {
    for (const path of paths) {
      const route = routeAt(routes, method, path, MAX_FRONT_CONTROLLERS, false) ?? containerActionRoute(routes, method, path);
      if (route) return route;
    }
    if (locale === 'never') return undefined;
  }
  for (const path of paths) {
    const route = routeWithoutFirstSegment(routes, method, path);
    if (route) return route;
  }
  return undefined;
}

/** Find the route of a container action that a path reaches (see containerAction). */
function containerActionRoute(routes: ReadonlyMap<string, LoginRoute>, method: string, normalizedPath: string): LoginRoute | undefined {
  return aliasesOf(routes).actions.find((entry) => entry.method === method && reachesContainerAction(entry.action, normalizedPath))?.route;
}

/**
 * Find the route that a path reaches once a locale segment (see withoutLocale) or, for a PHP
 * script, a multisite segment (see withoutSite) is dropped from its start, or from the start
 * of one of its front-controller readings.
 */
function routeWithoutFirstSegment(routes: ReadonlyMap<string, LoginRoute>, method: string, normalizedPath: string): LoginRoute | undefined {
  const { prefixes, siteScripts } = aliasesOf(routes);
  const route = mayHaveLocale(normalizedPath, prefixes) ? routeAt(routes, method, normalizedPath, MAX_FRONT_CONTROLLERS, true) : undefined;
  if (route || siteScripts.size === 0) return route;
  const rest = withoutSite(normalizedPath);
  return rest === undefined ? undefined : routeByReadings(siteScripts, method, [rest], 'last');
}

/**
 * Return a normalised path, then its readings with numeric-region locale tags read as API
 * versions (see withApiVersions), with explicit view names, and with punctuation as `_`.
 */
function pathReadings(normalizedPath: string, underscores: boolean): string[] {
  const versioned = withApiVersions(normalizedPath);
  const readings = versioned === undefined ? [normalizedPath] : [normalizedPath, versioned];

  // Zope, Plone and Pyramid name a view explicitly with `@@` (`/@@login`, `/news/@@login`),
  // and Zope and Plone also with the `++view++` namespace.
  const view = normalizedPath.includes('/@@') || normalizedPath.includes('/++view++')
    ? normalizedPath.replaceAll('/@@', '/').replaceAll('/++view++', '/')
    : undefined;
  if (view !== undefined) readings.push(view);

  // CherryPy's and TurboGears' dispatchers read every ASCII punctuation character in a
  // segment as `_`, so `/do-login` and `/do.login` run the handler of `/do_login`. Only a
  // login path or alias with `_` can be reached so.
  if (underscores) {
    const folded = (view ?? normalizedPath).replace(SEGMENT_PUNCTUATION, '_');
    if (!readings.includes(folded)) readings.push(folded);
  }
  return readings;
}

/** ASCII punctuation other than `/` and `_`: Python's string.punctuation, which CherryPy maps to `_`. */
const SEGMENT_PUNCTUATION = /[!-.:-@[-^`{-~]/g;

/** Find the route as findLoginRoute does. With `locale`, one locale segment may be dropped on the way. */
function routeAt(
  routes: ReadonlyMap<string, LoginRoute>,
  method: string,
  normalizedPath: string,
  frontControllers: number,
  locale: boolean,
): LoginRoute | undefined {
  const { aliases, directories, lengths, prefixes } = aliasesOf(routes);
  const keyAt = (end: number) => routeKey(method, normalizedPath.slice(0, end));

  const { exact, ancestors } = readingEnds(normalizedPath, lengths);
  for (const end of exact) {
    const key = keyAt(end);
    // A route's own path wins over another route's alias.
    const route = routes.get(key) ?? aliases.get(key);
    if (route) return route;
  }
  for (const end of ancestors) {
    const key = keyAt(end);
    const alias = directories.has(key) ? undefined : aliases.get(key);
    const route = [routes.get(key), alias].find((candidate) => candidate?.subpaths === 'judge');
    if (route) return route;
  }
  if (frontControllers > 0) {
    for (const rest of frontControllerReadings(normalizedPath, prefixes)) {
      const route = routeAt(routes, method, rest, frontControllers - 1, locale);
      if (route) return route;
    }
  }
  // One locale segment is read, as Django and Rails take one.
  const unprefixed = locale ? withoutLocale(normalizedPath) : undefined;
  return unprefixed === undefined ? undefined : routeAt(routes, method, unprefixed, frontControllers, false);
}

/**
 * Return whether a path or one of its front-controller readings starts with a locale
 * segment, so that most paths are read once only.
 */
function mayHaveLocale(normalizedPath: string, prefixes: ReadonlySet<string>, frontControllers = MAX_FRONT_CONTROLLERS): boolean {
  if (withoutLocale(normalizedPath) !== undefined) return true;
  if (frontControllers === 0) return false;
  return frontControllerReadings(normalizedPath, prefixes).some((rest) => mayHaveLocale(rest, prefixes, frontControllers - 1));
}

/**
 * Return a login path with its punctuation read as `_`, when that differs. CherryPy runs the
 * handler `sign_in` for a form that posts to `/sign-in`, so `/sign_in` reaches that route.
 * A path with a file extension (`/wp-login.php`) names no such handler, since a handler's
 * name is a Python identifier, and it gets no alias: each alias with `_` costs every
 * request one more reading (see pathReadings).
 */
function punctuationAliases(path: string): LoginPathAlias[] {
  if (path.includes('.')) return [];
  const folded = path.replace(SEGMENT_PUNCTUATION, '_');
  return folded === path ? [] : [{ path: folded, directory: false }];
}

/** Return the route path without its locale segment, which other languages' paths are read as (see withoutLocale). */
function localeAliases(path: string): LoginPathAlias[] {
  const unprefixed = withoutLocale(path);
  return unprefixed === undefined ? [] : [{ path: unprefixed, directory: false }];
}

/** Maximum number of PHP script segments stripped from one path, so each costs one more linear pass at most. */
const MAX_FRONT_CONTROLLERS = 2;

/**
 * Return the paths that a front controller runs for a path with a script segment, or none.
 * Front controllers (Laravel, Symfony, WordPress, Flask or Django under CGI) route by the
 * PATH_INFO after the script's name. Their routes are relative to the script's directory,
 * so `/portal/index.php/login` reaches the app's /portal/login route when the app sits in
 * /portal, and its /login route when routes are written from the root. A script that the
 * server also runs for its stem (see scriptPathInfo) makes `/account.php/login` the
 * handler of /account/login. That reading is made only when a route's path starts with the
 * stem's directory (one of `prefixes`), so crafted paths of many script segments cost no more.
 */
function frontControllerReadings(normalizedPath: string, prefixes: ReadonlySet<string>): string[] {
  const script = scriptPathInfo(normalizedPath);
  if (!script) return [];
  const readings = script.directory === '' ? [script.pathInfo] : [script.pathInfo, `${script.directory}${script.pathInfo}`];
  for (const stem of script.stems) {
    const directory = `${script.directory}/${stem}`;
    if (prefixes.has(directory)) readings.push(`${directory}${script.pathInfo}`);
  }
  return readings;
}

/** Return each path's prefixes that end before a `/` or at its end: `/a` and `/a/b` for /a/b. */
function segmentPrefixes(paths: readonly string[]): Set<string> {
  const prefixes = new Set<string>();
  for (const path of paths) {
    for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', slash + 1)) prefixes.add(path.slice(0, slash));
    prefixes.add(path);
  }
  return prefixes;
}

/**
 * Return a header or field name as Spring MVC 6.2 compares them when it binds headers to a
 * form's fields: without dashes, in lower case.
 */
export function fieldHeaderName(name: string): string {
  return name.replaceAll('-', '').toLowerCase();
}

/**
 * Index the login paths of `routes`, and the paths in loginPathAliases that reach them.
 * `withSites: false` leaves out the index of PHP scripts below a multisite segment.
 */
export function loginPathIndex(routes: ReadonlyMap<string, LoginRoute>, withSites = true): LoginPathIndex {
  const index: LoginPathIndex = {
    exact: new Map(), below: new Map(), methods: new Set(), lengths: new Set(), passwordFields: new Set(), fieldHeaderNames: new Set(),
    restPaths: [], prefixes: new Set(), actions: [], underscores: false,
  };
  for (const [key, route] of routes) {
    const { method, path } = splitRouteKey(key);
    for (const reaching of [{ path, directory: false }, ...loginPathAliases(path), ...localeAliases(path), ...punctuationAliases(path)]) {
      addMethod(index.exact, reaching.path, method);
      if (route.subpaths === 'judge' && !reaching.directory) addMethod(index.below, reaching.path, method);
      index.lengths.add(reaching.path.length);
    }
    const action = containerAction(path, route.suffixMatch);
    if (action) index.actions.push({ method, action });
    index.methods.add(method);
    index.passwordFields.add(route.passwordField.toLowerCase());
    for (const field of [route.usernameField, route.passwordField]) index.fieldHeaderNames.add(fieldHeaderName(field));
  }
  index.restPaths = [...index.exact.keys()].filter((path) => path.indexOf('/', 1) !== -1);
  index.prefixes = segmentPrefixes([...index.exact.keys()]);
  index.underscores = [...index.exact.keys()].some((path) => path.includes('_'));
  const siteScripts = new Map([...routes].filter(([key]) => isSiteScript(splitRouteKey(key).path)));
  if (withSites && siteScripts.size > 0) index.siteScripts = loginPathIndex(siteScripts, false);
  return index;
}

function addMethod(methodsByPath: Map<string, string[]>, path: string, method: string): void {
  const methods = methodsByPath.get(path) ?? [];
  if (!methods.includes(method)) methodsByPath.set(path, [...methods, method]);
}

/** Return the methods of the login routes that a normalised path reaches by any of its readings, if any. */
export function loginMethodsAt(
  index: LoginPathIndex,
  normalizedPath: string,
  locale: LocaleReading = 'last',
): readonly string[] | undefined {
  return methodsByReadings(index, pathReadings(normalizedPath, index.underscores), locale);
}

/** Find the methods as loginMethodsAt does, for a path read each of the ways in `paths`. */
function methodsByReadings(index: LoginPathIndex, paths: readonly string[], locale: LocaleReading): readonly string[] | undefined {
  if (locale !== 'only') {
    for (const path of paths) {
      const methods = methodsAt(index, path, MAX_FRONT_CONTROLLERS, false) ?? containerActionMethods(index, path);
      if (methods) return methods;
    }
    if (locale === 'never') return undefined;
  }
  for (const path of paths) {
    const methods = methodsWithoutFirstSegment(index, path);
    if (methods) return methods;
  }
  return undefined;
}

/** Return the methods of the container actions that a path reaches (see containerAction), if any. */
function containerActionMethods(index: LoginPathIndex, normalizedPath: string): readonly string[] | undefined {
  const methods = index.actions.filter((entry) => reachesContainerAction(entry.action, normalizedPath)).map((entry) => entry.method);
  return methods.length === 0 ? undefined : [...new Set(methods)];
}

/** Find the methods as routeWithoutFirstSegment finds a route. */
function methodsWithoutFirstSegment(index: LoginPathIndex, normalizedPath: string): readonly string[] | undefined {
  const methods = mayHaveLocale(normalizedPath, index.prefixes) ? methodsAt(index, normalizedPath, MAX_FRONT_CONTROLLERS, true) : undefined;
  if (methods || index.siteScripts === undefined) return methods;
  const rest = withoutSite(normalizedPath);
  return rest === undefined ? undefined : methodsByReadings(index.siteScripts, [rest], 'last');
}

/** Find the methods as loginMethodsAt does. With `locale`, one locale segment may be dropped on the way. */
function methodsAt(index: LoginPathIndex, normalizedPath: string, frontControllers: number, locale: boolean): readonly string[] | undefined {
  const { exact, ancestors } = readingEnds(normalizedPath, index.lengths, index.below.size > 0);
  for (const end of exact) {
    const methods = index.exact.get(normalizedPath.slice(0, end));
    if (methods) return methods;
  }
  for (const end of ancestors) {
    const methods = index.below.get(normalizedPath.slice(0, end));
    if (methods) return methods;
  }
  if (frontControllers > 0) {
    for (const rest of frontControllerReadings(normalizedPath, index.prefixes)) {
      const methods = methodsAt(index, rest, frontControllers - 1, locale);
      if (methods) return methods;
    }
  }
  const unprefixed = locale ? withoutLocale(normalizedPath) : undefined;
  return unprefixed === undefined ? undefined : methodsAt(index, unprefixed, frontControllers, false);
}

/**
 * List where each reading of a normalised path ends, keeping only ends in `lengths`: the
 * readings of the path itself (see pushReadingEnds), those of its directory when its last
 * segment reads as the directory (see readsAsDirectory), then those of each path above it,
 * nearest first, without the root. Working with ends rather than strings keeps the cost
 * linear in the path's length, however many dots or slashes a client puts in it. No end
 * past the longest of `lengths` can match, so only the segments that start before it are
 * read. So each reading of a long path (through front controllers, without a locale) costs
 * about the longest login path's length, plus a native scan of its last segment.
 */
function readingEnds(path: string, lengths: ReadonlySet<number>, withAncestors = true): { exact: number[]; ancestors: number[] } {
  const limit = maxOf(lengths);
  const exact: number[] = [];
  pushReadingEnds(path, path.length, lengths, limit, exact);
  const last = path.lastIndexOf('/');
  let above = last;
  if (readsAsDirectory(path, last)) {
    // The root directory `/` ends after its slash. Paths above start above the directory,
    // whose readings are the path's own now.
    pushReadingEnds(path, Math.max(above, 1), lengths, limit, exact);
    above = path.lastIndexOf('/', above - 1);
  }
  // From the last segment, not from `above`: an index-named last segment moved `above` past
  // an index file that runs for it (`/login/index.php/index.php`).
  pushIndexFileDirectories(path, last, lengths, limit, exact);

  const ancestors: number[] = [];
  if (withAncestors) {
    for (let slash = firstEndToRead(path, above, limit); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
      pushReadingEnds(path, slash, lengths, limit, ancestors);
    }
  }
  return { exact, ancestors };
}

function maxOf(lengths: ReadonlySet<number>): number {
  let max = 0;
  for (const length of lengths) max = Math.max(max, length);
  return max;
}

/**
 * Return the first slash at or after `from`, or `above` when that is nearer the start.
 * With `from` at the limit, that ends the last path whose last segment starts before it.
 */
function firstEndToRead(path: string, above: number, from: number): number {
  const end = from < 0 ? -1 : path.indexOf('/', from);
  return end === -1 || end > above ? above : end;
}

/**
 * Push the reading ends of the directory of each index file above the path's last segment,
 * which starts at `above`. PHP's PATH_INFO and ASP.NET run an index file for the
 * paths below it, so `/login/index.php/x` runs the handler of /login, whatever the route's
 * `subpaths`. Only directories whose last segment starts before `limit` are read.
 */
function pushIndexFileDirectories(path: string, above: number, lengths: ReadonlySet<number>, limit: number, into: number[]): void {
  // The deepest such directory ends at the first slash from `limit`, and its index file at the next.
  const longestDirectory = path.indexOf('/', limit);
  const first = firstEndToRead(path, above, longestDirectory === -1 ? -1 : longestDirectory + 1);
  for (let slash = first; slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
    const start = path.lastIndexOf('/', slash - 1);
    if (isDirectoryIndexName(path.slice(start + 1, slash))) pushReadingEnds(path, Math.max(start, 1), lengths, limit, into);
  }
}

/**
 * Return whether a path whose last segment starts after `last` reads as its directory. Apache's
 * DirectoryIndex, PHP's built-in server and IIS run an index file (`index.php`,
 * `default.aspx`, see isDirectoryIndexName) for the directory, so the directory's login
 * handler runs for it. A segment that is only a suffix (`.json`) leaves the directory once
 * the suffix is cut, as pushReadingEnds cuts `/login.json` to /login.
 */
function readsAsDirectory(path: string, last: number): boolean {
  const segment = path.slice(last + 1);
  return segment !== '' && (isSuffixMark(segment.charCodeAt(0)) || isDirectoryIndexName(segment));
}

/**
 * Push the ends of the readings of `path.slice(0, end)` that are in `lengths`: the path
 * itself, then the path cut before each suffix mark of its last segment, longest first.
 * Rails routes `/login.json` to `/login` with format `json`, and Spring MVC's suffix pattern
 * matching (on by default before Spring Framework 5.3) routes `/login.anything` there too.
 * Struts 2 dynamic method invocation reads `/login!x` as action `login`. Windows reads
 * `wp-login.php::$DATA` as the file's data stream.
 */
function pushReadingEnds(path: string, end: number, lengths: ReadonlySet<number>, limit: number, into: number[]): void {
  if (lengths.has(end)) into.push(end);
  // Scan the last segment only, so a path of many segments costs one pass in all, and
  // only up to `limit`, since a cut further on is longer than every login path.
  const start = path.lastIndexOf('/', end - 1);
  for (let index = Math.min(end - 1, limit); index > start; index -= 1) {
    if (isSuffixMark(path.charCodeAt(index)) && index - 1 !== start && lengths.has(index)) into.push(index);
  }
}

/** Return whether a character starts a suffix that some app cuts off a path's last segment. */
function isSuffixMark(code: number): boolean {
  // The marks are ".", "!" and ":".
  return code === 0x2e || code === 0x21 || code === 0x3a;
}

export function createDeviceCookies(config: GatewayConfig, keys: GatewayKeys, clock: () => number): DeviceCookies {
  return new DeviceCookies(keys.cookie, config.deviceCookie, clock);
}

export { GatewayKeys, TrustedProxies };

import t from 'tap';

import type { LoginRoute } from '../../src/config/types.js';
import { findLoginRoute, loginMethodsAt, loginPathIndex, routeKey } from '../../src/proxy/context.js';
import { queryRoutedTargets } from '../../src/request/query-route.js';

/** A route map that counts its lookups, each of which hashes a string as long as the key. */
class CountingMap<V> extends Map<string, V> {
  lookups = 0;
  override get(key: string): V | undefined {
    this.lookups += 1;
    return super.get(key);
  }
}

function route(path: string, subpaths: 'judge' | 'forward' = 'judge'): LoginRoute {
  return { id: path, method: 'POST', path, subpaths, usernameField: 'username', passwordField: 'password' } as LoginRoute;
}

const routes = new CountingMap<LoginRoute>([
  [routeKey('POST', '/login'), route('/login')],
  [routeKey('POST', '/wp-login.php'), route('/wp-login.php')],
  [routeKey('POST', '/partner/signin'), route('/partner/signin', 'forward')],
]);

t.test('readings of a path are the path, its format suffixes and the paths above it', async (t) => {
  const cases: [string, string | undefined][] = [
    ['/login', '/login'],
    ['/login.json', '/login'],
    ['/login.tar.gz', '/login'],
    ['/wp-login.php', '/wp-login.php'],
    ['/wp-login.php/x/y.php', '/wp-login.php'],
    ['/login/a/b.c', '/login'],
    ['/login.json/x', '/login'],
    ['/partner/signin.json', '/partner/signin'],
    ['/partner/signin/callback', undefined],
    // PHP front controllers route by the path after the script's name.
    ['/index.php/login', '/login'],
    ['/app/index.php/login.json', '/login'],
    ['/index.php/index.php/login', '/login'],
    ['/index.php/a/login', undefined],
    // Struts 2 reads `login!x` as action login, and Windows `name::$DATA` as the file's data.
    ['/login!execute', '/login'],
    ['/wp-login.php::$data', '/wp-login.php'],
    ['/login:x', '/login'],
    ['/!login', undefined],
    ['/.login', undefined],
    ['/a/login', undefined],
    ['/loginx', undefined],
  ];
  for (const [path, expected] of cases) {
    t.equal(findLoginRoute(routes, 'POST', path)?.path, expected, `${path} reaches ${expected ?? 'no route'}`);
    t.equal(loginMethodsAt(loginPathIndex(routes), path)?.[0], expected ? 'POST' : undefined, `${path}: methods`);
  }
});

t.test('a path of many dots or segments costs a few lookups, not one per reading', async (t) => {
  const crafted = [`/a${'.'.repeat(15_000)}`, `/a.b${'/c'.repeat(7_500)}`, `/login${'/x.'.repeat(5_000)}`, `/x${'/a.b.c'.repeat(2_000)}`,
    `${'/i.php'.repeat(2_500)}/c`, `/a${'.'.repeat(15_000)}/index.php`, `${'/index'.repeat(2_500)}/.x`];
  for (const path of crafted) {
    routes.lookups = 0;
    findLoginRoute(routes, 'POST', path);
    // Only readings as long as a path that reaches a route are looked up: at most one per
    // length here (/login, /wp-login, /wp-login.php, /partner/signin).
    t.ok(routes.lookups <= 4, `${path.slice(0, 12)}... (${path.length} characters): ${routes.lookups} lookups`);
  }
});

/** A set of lengths that counts its checks, one per reading end the matcher considers. */
class CountingSet extends Set<number> {
  checks = 0;
  override has(value: number): boolean {
    this.checks += 1;
    return super.has(value);
  }
}

t.test('long paths read many ways check few ends', async (t) => {
  const index = loginPathIndex(new Map([...routes, [routeKey('POST', '/en/signin'), route('/en/signin')]]));
  // Each path has about 2,000 segments and reads several ways: a locale segment to drop and
  // script segments whose PATH_INFO front controllers route by, two deep.
  const crafted = ['/de/index.php'.repeat(1_000), '/index.php'.repeat(1_300), '/de'.repeat(4_300), '/a.b/'.repeat(2_600),
    `/de${'/x.y'.repeat(3_000)}`];
  for (const path of crafted) {
    // /wp-login.php is also read below a multisite segment, by an index of its own.
    const lengths = new CountingSet(index.lengths);
    const siteLengths = new CountingSet(index.siteScripts?.lengths);
    const siteScripts = index.siteScripts && { ...index.siteScripts, lengths: siteLengths };
    const methods = loginMethodsAt({ ...index, lengths, siteScripts }, path);
    t.equal(methods, undefined, `${path.slice(0, 12)}...: no login path`);
    // Only the segments within the longest login path's length are read, in each reading.
    const checks = lengths.checks + siteLengths.checks;
    t.ok(checks <= 400, `${path.slice(0, 12)}... (${path.length} characters): ${checks} ends checked`);
  }
});

t.test('login files are reached without their extension and as their directory', async (t) => {
  const served = new Map<string, LoginRoute>([
    [routeKey('POST', '/wp-login.php'), route('/wp-login.php')],
    [routeKey('POST', '/account/login.aspx'), route('/account/login.aspx', 'forward')],
    [routeKey('POST', '/portal/default.aspx'), route('/portal/default.aspx', 'forward')],
    [routeKey('POST', '/site/login.html'), route('/site/login.html')],
    [routeKey('POST', '/site/login'), route('/site/login', 'forward')],
  ]);
  const cases: [string, string | undefined][] = [
    // nginx's `try_files $uri $uri/ $uri.php`, ASP.NET FriendlyUrls and Apache's MultiViews.
    ['/wp-login', '/wp-login.php'],
    ['/wp-login.json', '/wp-login.php'],
    ['/wp-login!x', '/wp-login.php'],
    ['/wp-login/x', '/wp-login.php'],
    ['/account/login', '/account/login.aspx'],
    ['/account/login.json', '/account/login.aspx'],
    ['/account/login/x', undefined],
    // An index file is served for its directory.
    ['/portal', '/portal/default.aspx'],
    ['/portal/default', '/portal/default.aspx'],
    ['/portal/index.php', '/portal/default.aspx'],
    ['/portal/x', undefined],
    // A route's own path wins over another route's alias, but paths below it are judged by the route that judges them.
    ['/site/login', '/site/login'],
    ['/site/login/x', '/site/login.html'],
    ['/wp-loginx', undefined],
    ['/wp', undefined],
    ['/account', undefined],
  ];
  for (const [path, expected] of cases) {
    t.equal(findLoginRoute(served, 'POST', path)?.path, expected, `${path} reaches ${expected ?? 'no route'}`);
    t.equal(loginMethodsAt(loginPathIndex(served), path)?.[0], expected ? 'POST' : undefined, `${path}: methods`);
  }

  const root = new Map([[routeKey('POST', '/index.php'), route('/index.php', 'forward')]]);
  t.equal(findLoginRoute(root, 'POST', '/')?.path, '/index.php', '/ reaches /index.php');
  t.equal(findLoginRoute(root, 'POST', '/default.aspx')?.path, '/index.php', '/default.aspx reaches /index.php');
  t.equal(findLoginRoute(root, 'POST', '/x')?.path, undefined, '/x reaches no route');
  t.same(loginPathIndex(new Map([...served, ...root])).exact.get('/'), ['POST'], 'an index alias adds its method once');
});

t.test('index files below a subpaths: forward route reach it', async (t) => {
  const cases: [string, string | undefined][] = [
    ['/partner/signin/index.php', '/partner/signin'],
    ['/partner/signin/index', '/partner/signin'],
    ['/partner/signin/default.aspx', '/partner/signin'],
    ['/partner/signin/index.en.php', '/partner/signin'],
    ['/partner/signin/.json', '/partner/signin'],
    ['/partner/signin.json/index.php', '/partner/signin'],
    ['/partner/signin.json/index.php/x', '/partner/signin'],
    [`/partner/signin.${'x'.repeat(40)}/index.php/y`, '/partner/signin'],
    ['/partner/signin/indexes', undefined],
    ['/partner/signin/x/index.php', undefined],
    // PHP's PATH_INFO runs the index file for paths below it.
    ['/partner/signin/index.php/x', '/partner/signin'],
    ['/partner/signin/x/index.php/y', undefined],
    ['/partner/index.php', undefined],
  ];
  for (const [path, expected] of cases) {
    t.equal(findLoginRoute(routes, 'POST', path)?.path, expected, `${path} reaches ${expected ?? 'no route'}`);
    t.equal(loginMethodsAt(loginPathIndex(routes), path)?.[0], expected ? 'POST' : undefined, `${path}: methods`);
  }
});

t.test('query-routed paths of PHP front controllers', async (t) => {
  const cases: [string, string[]][] = [
    ['/?/login', ['/login']],
    ['/index.php?/login&x=1', ['/login']],
    ['/app/?/Login', ['/Login']],
    // CodeIgniter with uri_protocol = QUERY_STRING reads the whole first part.
    ['/?login', ['/login']],
    ['/?x=1', []],
    ['/?q=user/login', ['/user/login']],
    ['/any/path?x=1&q=/login&q=other', ['/login', '/other']],
    // PHP strips leading spaces from a key and cuts it at a NUL.
    ['/node?%20q=login', ['/login']],
    ['/node?q%00x=login', ['/login']],
    ['/?Q=login', []],
    ['/login', []],
    // ThinkPHP reads `s`, Phalcon `_url`, Yii `r`, and OpenCart `route` and `_route_`.
    ['/?s=/login', ['/login']],
    ['/index.php?s=login', ['/login']],
    ['/?_url=/login', ['/login']],
    ['/index.php?r=site/login', ['/site/login']],
    ['/index.php?route=account/login&language=en-gb', ['/account/login']],
    ['/index.php?_route_=account/login', ['/account/login']],
    // WordPress serves `rest_route=/x` as /wp-json/x.
    ['/?rest_route=/jwt-auth/v1/token', ['/jwt-auth/v1/token', '/wp-json/jwt-auth/v1/token', '/jwtauth/v1/token', '/wp-json/jwtauth/v1/token']],
    // ThinkPHP reads `|` as `/`, and OpenCart drops characters it does not route by.
    ['/?s=user|login', ['/user%7Clogin', '/user/login', '/user.login', '/userlogin']],
    ['/?q=a&s=b&r=c', ['/a', '/b', '/c']],
    ['/?search=login&sort=/login&redirect=/login&x_url=/login&routes=/login', []],
  ];
  for (const [url, expected] of cases) {
    t.same(queryRoutedTargets(url), expected, url);
  }
});

t.test('routing parameters are read under the names parsers read as theirs', async (t) => {
  // PHP strips leading spaces, cuts a key at NUL and turns " ", "." and an unclosed "[" into "_".
  // qs and Rack read "[s]" as s, and any key may be percent-encoded.
  const spellings: [string, string][] = [
    ['%20s', 's'], ['+s', 's'], ['s%00x', 's'], ['%5Bs%5D', 's'], ['%73', 's'], ['s[]', 's'],
    ['.url', '_url'], ['%5f%75rl', '_url'], [' r', 'r'], ['r.x', 'r'],
    ['rest.route', 'rest_route'], ['rest+route', 'rest_route'], ['rest%5Broute', 'rest_route'], ['%72est_route', 'rest_route'],
    ['.route.', '_route_'], ['_route%20', '_route_'], ['[route]', 'route'],
  ];
  for (const [key, name] of spellings) {
    const targets = queryRoutedTargets(`/index.php?x=1&${key}=/login`);
    t.ok(targets.includes('/login'), `${key} is read as ${name}: ${JSON.stringify(targets)}`);
  }
});

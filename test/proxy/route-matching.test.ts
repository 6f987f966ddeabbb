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
  return { id: path, method: 'POST', path, subpaths, passwordField: 'password' } as LoginRoute;
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
    `${'/i.php'.repeat(2_500)}/c`];
  for (const path of crafted) {
    routes.lookups = 0;
    findLoginRoute(routes, 'POST', path);
    // Only readings as long as a login path are looked up: at most one per route here.
    t.ok(routes.lookups <= 3, `${path.slice(0, 12)}... (${path.length} characters): ${routes.lookups} lookups`);
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
  ];
  for (const [url, expected] of cases) {
    t.same(queryRoutedTargets(url), expected, url);
  }
});

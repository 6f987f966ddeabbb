import t from 'tap';

import { gatewayWithRoutes, passLogin } from './passage.js';

// A front controller in a subdirectory routes relative to that directory: Laravel in
// /portal serves /portal/index.php/login as its /portal/login route, CodeIgniter 3 reads
// /portal/?/login the same way, and WordPress in /blog serves /blog/?rest_route=/x as
// /blog/wp-json/x.
t.test('front-controller forms of a login in a subdirectory are judged', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'portal', path: '/portal/login' },
    { id: 'blog', path: '/blog/wp-json/jwt-auth/v1/token' },
    { id: 'api', path: '/api/v1/login' },
    { id: 'rewritten', path: '/shop/index.php/account/login' },
  ]);

  const judged: [string, string][] = [
    ['/portal/index.php/login', 'portal'], ['/portal/index.php/LOGIN/', 'portal'],
    ['/portal/?/login', 'portal'], ['/portal/index.php?/login', 'portal'], ['/portal?/login', 'portal'],
    ['/portal/?q=login', 'portal'], ['/portal/?r=login', 'portal'], ['/portal/index.php?_route_=login', 'portal'],
    ['/blog/?rest_route=/jwt-auth/v1/token', 'blog'], ['/blog/index.php?rest_route=%2Fjwt-auth%2Fv1%2Ftoken', 'blog'],
    ['/blog/index.php/wp-json/jwt-auth/v1/token', 'blog'],
    ['/api/v1/index.php/login', 'api'], ['/api/index.php/v1/login', 'api'], ['/api/v1/?/login', 'api'],
    // A route written with its front controller is reached once URL rewriting serves it in its directory.
    ['/shop/account/login', 'rewritten'], ['/shop/?/account/login', 'rewritten'],
    ['/shop/index.php?/account/login', 'rewritten'], ['/shop/?route=account/login', 'rewritten'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: answered by the app`);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }

  for (const target of ['/portal/index.php/logout', '/other/index.php/login', '/other/?/login', '/blog/?rest_route=/wp/v2/posts']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: no login route there, not judged`);
  }
});

t.test('script stem paths are judged', async (t) => {
  // MultiViews serves /account/login with account.php (or account.v2.php) and the PATH_INFO
  // /login, as a rewrite of ^account/(.*)$ to account.php/$1 does.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'account', path: '/account/login' },
    { id: 'members', path: '/club/members.php/login' },
  ]);

  const judged: [string, string][] = [
    ['/account.php/login', 'account'], ['/ACCOUNT.cgi/login/', 'account'], ['/account.v2.php/login', 'account'],
    ['/account.php/login.json', 'account'], ['/account.php?/login', 'account'], ['/account.php?q=login', 'account'],
    ['/account.php?r=login', 'account'],
    ['/club/members/login', 'members'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }

  for (const target of ['/accounts.php/login', '/x/account.php/login', '/members/login']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: no login route there, not judged`);
  }
});

t.test('locale-prefixed login paths judged', async (t) => {
  // Django's i18n_patterns and a Rails (:locale) scope serve the login under each language.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'django', path: '/en/accounts/login/' },
    { id: 'plain', path: '/signin' },
  ]);

  const judged: [string, string][] = [
    ['/de/accounts/login/', 'django'], ['/pt-br/accounts/login/', 'django'], ['/zh-Hans/accounts/login/', 'django'],
    ['/en_GB/accounts/login/', 'django'], ['/accounts/login/', 'django'],
    ['/de/signin', 'plain'], ['/sr-latn-rs/signin', 'plain'], ['/fil/index.php/signin', 'plain'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
    if (target !== '/en/accounts/login/') {
      t.equal(passage.decision?.riskgate.outcome_reason, 'path_variant', `${target}: a success there is not trusted`);
    }
  }

  for (const target of ['/de/fr/signin', '/shop/signin', '/d/signin', '/de/accounts/logout/']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: no login route there, not judged`);
  }
});

t.test('a form body that routes to a login in a subdirectory gets 400', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'blog', path: '/blog/wp-json/jwt-auth/v1/token' }]);
  const body = 'rest_route=/jwt-auth/v1/token&username=alice&password=wonderland';
  const passage = await passLogin(local, app, '/blog/', body, 'application/x-www-form-urlencoded');
  t.equal(passage.status, 400);
  t.equal(passage.received, undefined, 'the app got no whole request');
});

t.test('a route at an index file leaves the other paths of its directory alone', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'portal', path: '/portal/index.php' }]);

  for (const target of ['/portal', '/portal/', '/portal/index', '/portal/index.php/x']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.decision?.riskgate.route, 'portal', `${target}: judged`);
  }
  // Servers run the index file for its directory, not for the directory's other files.
  for (const target of ['/portal/api/notes', '/portal/upload.php', '/portal/x/index.php']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

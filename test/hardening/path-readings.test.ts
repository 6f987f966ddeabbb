import t from 'tap';

import { gatewayWithRoutes, nextSource, passLogin } from './passage.js';
import { rawExchange, rawRequest } from './raw.js';

t.test('long path read many ways is forwarded', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'signin', path: '/en/accounts/login/' },
    { id: 'wordpress', path: '/wp-login.php' },
  ]);
  // A locale segment and script segments in front of each other, 1,000 times: every reading
  // of such a path drops one of them, and none reaches a login path.
  const target = '/de/index.php'.repeat(1_000);
  const headers: [string, string][] = [['Host', 'riskgate.test'], ['Connection', 'close']];
  const exchange = await rawExchange(local.port, rawRequest('GET', target, headers), { source: nextSource() });
  t.equal(exchange.statuses[0], 200, 'answered by the app');
  t.equal(app.requests.at(-1)?.url, target, 'reached the app as sent');

  const login = await passLogin(local, app, '/de/index.php/de/index.php/wp-login.php');
  t.equal(login.decision?.riskgate.route, 'wordpress', 'a login behind the same segments is judged');
});

t.test('locales with numeric regions judged', async (t) => {
  // BCP 47 allows a UN M.49 region of three digits, and Django's language prefix
  // pattern serves /es-419/ as it serves /de/.
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'signin', path: '/login' }]);
  for (const target of ['/es-419/login', '/en-001/login', '/zh-hant-tw/login', '/ES_419/login', '/zh-hant-419/login', '/es-419/login/']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, 'signin', `${target}: judged`);
    t.equal(passage.decision?.riskgate.outcome_reason, 'path_variant', `${target}: a success there is not trusted`);
  }

  for (const target of ['/es-4190/login', '/e-419/login', '/es-419/de/login']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: no login route there, not judged`);
  }
});

t.test('API versions beside numeric-region locales', async (t) => {
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'api', path: '/api/v1/login' }]);
  // Spring Framework 7 skips the letters before a version's number, so /api/en-001/login is version 1.
  const judged = ['/es-419/api/v1/login', '/en-001/api/1/login', '/api/v1/login', '/api/1/login', '/api/v1.0/login', '/api/en-001/login'];
  for (const target of judged) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, 'api', `${target}: judged`);
  }

  const passage = await passLogin(local, app, '/api/es-419/login');
  t.equal(passage.decision, undefined, '/api/es-419/login: version 419, not judged');
});

const FORM = 'application/x-www-form-urlencoded';

/** Send a GET with a password in its query and return the status, 405 on a login path. */
async function queryStatus(port: number, target: string): Promise<number | undefined> {
  const headers: [string, string][] = [['Host', 'riskgate.test'], ['Connection', 'close']];
  const exchange = await rawExchange(port, rawRequest('GET', target, headers), { source: nextSource() });
  return exchange.statuses[0];
}

t.test('container form login judged under any path', async (t) => {
  // Tomcat runs FORM login for any path in the web app that ends with /j_security_check,
  // and Jetty for any path with that segment.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'container', path: '/j_security_check', body: 'form', username_field: 'j_username', password_field: 'j_password' },
  ]);
  const body = 'j_username=alice&j_password=wonderland';
  for (const target of ['/j_security_check', '/secure/j_security_check', '/a/b/j_security_check', '/x/j_security_check;jsessionid=1',
    '/x/J_Security_Check', '/x/j_security_check/y', '/x/j_security_check?x=1']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, 'container', `${target}: judged`);
  }
  t.equal(await queryStatus(local.port, '/x/j_security_check?j_username=a&j_password=b'), 405, 'a password in a GET query there gets 405');

  for (const target of ['/x/j_security_checks', '/x/my_j_security_check']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

t.test('Spring Security suffix logins judged', async (t) => {
  // Spring Security before 4.0 runs its login filter for any path that ends with its URL:
  // the default j_spring_security_check, or the configured one with suffix_match.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'spring', path: '/j_spring_security_check', body: 'form', username_field: 'j_username', password_field: 'j_password' },
    { id: 'custom', path: '/auth/signin', suffix_match: true },
  ]);
  const body = 'j_username=alice&j_password=wonderland';
  for (const target of ['/j_spring_security_check', '/x/j_spring_security_check', '/a/b/j_spring_security_check;jsessionid=1']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.decision?.riskgate.route, 'spring', `${target}: judged`);
  }
  for (const target of ['/auth/signin', '/x/auth/signin', '/a/b/auth/signin', '/x/Auth/SignIn/']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.decision?.riskgate.route, 'custom', `${target}: judged`);
  }
  // The text is matched, not the segments: /x/myauth/signin is judged too.
  for (const target of ['/x/auth/signins', '/signin', '/x/auth/signin/x']) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

t.test('CherryPy punctuation spellings judged', async (t) => {
  // CherryPy's dispatcher reads each ASCII punctuation character in a segment as `_`.
  const { local, app } = await gatewayWithRoutes(t, [{ id: 'cherrypy', path: '/do_login', body: 'form' }]);
  const body = 'username=alice&password=wonderland';
  for (const target of ['/do_login', '/do-login', '/do.login', '/do~login', '/do%2Blogin', '/do@login', '/do$login',
    "/do'login", '/do:login', '/do!login', '/do%22login', '/do%7Clogin']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.decision?.riskgate.route, 'cherrypy', `${target}: judged`);
  }
  for (const target of ['/dologin', '/do--login', '/do_logins']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }

  // A form that posts to /sign-in runs CherryPy's handler sign_in.
  const hyphen = await gatewayWithRoutes(t, [{ id: 'hyphen', path: '/sign-in', body: 'form' }]);
  for (const target of ['/sign-in', '/sign_in', '/sign.in', '/sign~in']) {
    const passage = await passLogin(hyphen.local, hyphen.app, target, body, FORM);
    t.equal(passage.decision?.riskgate.route, 'hyphen', `${target}: judged by the /sign-in route`);
  }
});

t.test('explicit view names and traversal judged', async (t) => {
  // Zope, Plone and Pyramid name a view with `@@`, and a traversal app runs a view under any
  // resource path, which suffix_match covers. CherryPy's session_auth matches the text suffix.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'plain', path: '/login' },
    { id: 'traversal', path: '/signin', suffix_match: true },
    { id: 'session-auth', path: '/do_login', suffix_match: true, body: 'form' },
  ]);
  for (const [target, route] of [['/@@login', 'plain'], ['/++view++login', 'plain'], ['/@@signin', 'traversal'], ['/news/signin', 'traversal'],
    ['/news/@@signin', 'traversal'], ['/a/b/@@signin', 'traversal']] as const) {
    const passage = await passLogin(local, app, target);
    t.equal(passage.decision?.riskgate.route, route, `${target}: judged`);
  }
  for (const target of ['/xdo_login', '/x/do_login', '/x/do-login']) {
    const passage = await passLogin(local, app, target, 'username=alice&password=wonderland', FORM);
    t.equal(passage.decision?.riskgate.route, 'session-auth', `${target}: judged`);
  }
  const passage = await passLogin(local, app, '/news/login');
  t.equal(passage.decision, undefined, '/news/login: not judged without suffix_match');
});

t.test('username in path rejected', async (t) => {
  // CherryPy passes the `victim` of /do_login/victim to the handler's first parameter.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'cherrypy', path: '/do_login', body: 'form' },
    { id: 'steps', path: '/signin', identifier_first: true },
  ]);
  for (const target of ['/do_login/victim', '/do-login/victim', '/do_login/a/b']) {
    const passage = await passLogin(local, app, target, 'password=guess', FORM);
    t.equal(passage.status, 400, `${target}: 400`);
    t.equal(passage.received, undefined, `${target}: not forwarded`);
  }
  const named = await passLogin(local, app, '/do_login/victim', 'username=victim&password=guess', FORM);
  t.equal(named.decision?.user?.name, 'victim', 'with the username in the body, the login is judged');
  const exact = await passLogin(local, app, '/do_login', 'password=guess', FORM);
  t.equal(exact.decision?.riskgate.route, 'cherrypy', 'at the route path itself, by its address');
  const step = await passLogin(local, app, '/signin/password', '{"password":"guess"}');
  t.equal(step.decision?.riskgate.route, 'steps', 'an identifier-first route takes its password step below it');
});

t.test('Struts actions judged under any namespace', async (t) => {
  // Struts 2 runs an action of the default namespace for any namespace that has none of
  // that name, and one in /auth for any namespace below /auth.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'root', path: '/login.action', body: 'form' },
    { id: 'auth', path: '/auth/signin.action', body: 'form' },
  ]);
  const body = 'username=alice&password=wonderland';
  const judged: [string, string][] = [
    ['/x/login.action', 'root'], ['/x/y/login.action', 'root'], ['/x/login', 'root'], ['/x/login!input.action', 'root'],
    ['/x/login.action;jsessionid=1', 'root'], ['/auth/x/signin.action', 'auth'], ['/auth/x/y/signin', 'auth'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }
  t.equal(await queryStatus(local.port, '/x/y/login.action?username=a&password=b'), 405, 'a password in a GET query there gets 405');

  for (const target of ['/x/signin.action', '/x/login.do', '/x/login.action/y', '/x/logins.action']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

t.test('JSF views judged under /faces/', async (t) => {
  // JSF maps its FacesServlet to /faces/* and to *.jsf, so each runs the view /signin.xhtml.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'root', path: '/signin.xhtml', body: 'form' },
    { id: 'app', path: '/app/account/login.xhtml', body: 'form' },
  ]);
  const body = 'username=alice&password=wonderland';
  const judged: [string, string][] = [
    ['/faces/signin.xhtml', 'root'], ['/faces/signin.jsf', 'root'], ['/faces/signin', 'root'], ['/signin.jsf', 'root'],
    ['/app/faces/account/login.xhtml', 'app'], ['/app/faces/account/login.jsf', 'app'],
  ];
  for (const [target, routeId] of judged) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, routeId, `${target}: judged by route ${routeId}`);
  }

  for (const target of ['/faces/other.xhtml', '/x.faces/signin.xhtml']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

t.test('WordPress multisite scripts judged', async (t) => {
  // Multisite's .htaccess rewrites ^([_0-9a-zA-Z-]+/)?(.*\.php)$ to $2, and its nginx rules
  // ^(/[^/]+)?(/.*\.php) to $2, so /site2/wp-login.php and /si.te/wp-login.php run /wp-login.php.
  const { local, app } = await gatewayWithRoutes(t, [
    { id: 'wordpress', path: '/wp-login.php', body: 'form', username_field: 'log', password_field: 'pwd' },
    { id: 'signin', path: '/signin' },
  ]);
  const body = 'log=alice&pwd=wonderland';
  for (const target of ['/site2/wp-login.php', '/anything/wp-login.php', '/site_2/wp-login.php', '/Site-2/WP-LOGIN.PHP',
    '/site2/wp-login', '/site2/wp-login.php/x', '/site2/wp-login.php;x=1', '/site2/de/wp-login.php',
    '/site2/index.php/wp-login.php', '/si.te/wp-login.php']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.received?.url, target, `${target}: reached the app as sent`);
    t.equal(passage.decision?.riskgate.route, 'wordpress', `${target}: judged`);
    t.equal(passage.decision?.riskgate.outcome_reason, 'path_variant', `${target}: a success there is not trusted`);
  }
  t.equal(await queryStatus(local.port, '/site2/wp-login.php?log=a&pwd=b'), 405, 'a password in a GET query there gets 405');

  // The rewrite reads one site segment, and only in front of a PHP script.
  for (const target of ['/a/b/wp-login.php', '/site2/wp-signup.php', '/site2/signin']) {
    const passage = await passLogin(local, app, target, body, FORM);
    t.equal(passage.status, 200, `${target}: forwarded`);
    t.equal(passage.decision, undefined, `${target}: not judged`);
  }
});

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

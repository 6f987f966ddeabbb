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

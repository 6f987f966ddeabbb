import t from 'tap';

import { BROWSER_HEADERS, send } from '../helpers/gateway.js';
import { waitForDecisions } from '../helpers/wait.js';
import { setUp } from './login-bodies.js';

const FORM = 'application/x-www-form-urlencoded';

t.test('passwords that some parsers read are counted as sent', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // The app shows its form again for a wrong password, so each guess is an unknown outcome.
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<form>wrong password</form>');
    return true;
  };
  const cases: [string, string, string][] = [
    // iconv-lite, under Express's body-parser, drops the byte order mark.
    ['byte order mark', FORM, '\ufeffpassword=guess&username=alice'],
    // The WHATWG URLSearchParams, under undici's formData, drops a leading "?".
    ['leading question mark', FORM, '?password=guess&username=alice'],
    // JavaScript reads ["guess"] + salt as "guesssalt".
    ['JSON array', 'application/json', '{"username":"alice","password":["guess"]}'],
  ];

  for (const [, type, body] of cases) {
    await send(gateway.port, { method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': type } });
  }
  const decisions = await waitForDecisions(gateway.logs, cases.length);

  cases.forEach(([name], index) => {
    t.equal(decisions[index].riskgate.outcome_reason, 'password_ambiguous', `${name}: a password was sent`);
  });
  t.equal(decisions.at(-1)!.riskgate.counters.unsuccessful_per_account, cases.length - 1, 'so each guess counts against the account');
});

t.test('a password cookie never reaches the app with a login', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // PHP's $_REQUEST lets a cookie override the form's fields, and ASP.NET's Request[] falls back to cookies.
  for (const cookie of ['password=guess', 'theme=dark; Password=guess', 'pass%77ord=guess']) {
    await send(gateway.port, {
      method: 'POST', path: '/login', body: 'username=alice',
      headers: { ...BROWSER_HEADERS, 'content-type': FORM, cookie },
    });
  }
  await waitForDecisions(gateway.logs, 3);

  t.equal(upstream.logins.length, 3);
  t.same(upstream.logins.map((received) => received.headers.cookie), [undefined, 'theme=dark', undefined], 'each password cookie was removed');
});

t.test('a bracketed password field is read in a JSON body', async (t) => {
  const { upstream, gateway } = await setUp(t, {
    login_routes: [{ path: '/login', body: 'auto', username_field: 'session[email]', password_field: 'session[password]' }],
  });
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"ok":true}');
    return true;
  };
  // Rails reads session[password] from a nested JSON object, and from a top-level key when
  // it wraps a body that has no "session" key (ParamsWrapper).
  const bodies = [
    '{"session":{"email":"alice@example.com","password":"wonderland"}}',
    '{"email":"bob@example.com","password":"wonderland"}',
  ];
  for (const body of bodies) {
    await send(gateway.port, { method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' } });
  }
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.equal(upstream.logins.length, 2);
  t.same(decisions.map((line) => line.event.outcome), ['success', 'success'], 'both fill the password field');
});

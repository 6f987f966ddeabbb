import t from 'tap';

import { BROWSER_HEADERS, send } from '../helpers/gateway.js';
import { waitForDecisions } from '../helpers/wait.js';
import { postLogin, setUp } from './login-bodies.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

t.test('username spellings of other parsers are rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Each body names alice under a field that qs, Rack 2, PHP, Spring or a case-folding binder reads as "username".
  const cases: [string, string, string, string][] = [
    ['leading brackets (qs, Rack 2)', '/login', FORM, '[username]=alice&password=x'],
    ['encoded leading brackets', '/login', FORM, '%5Busername%5D=alice&password=x'],
    ['extra closing bracket (qs)', '/login', FORM, '[username]]=alice&password=x'],
    ['text after the group (qs)', '/login', FORM, '[username]x=alice&password=x'],
    ['nested under leading brackets', '/login', FORM, '[username][first]=alice&password=x'],
    ['leading closing bracket (Rack 2)', '/login', FORM, ']username=alice&password=x'],
    ['trailing closing bracket (Rack 2)', '/login', FORM, 'username]=alice&password=x'],
    ['leading empty brackets (Rack 2)', '/login', FORM, '[]username=alice&password=x'],
    ['leading dot (qs allowDots)', '/login', FORM, '.username=alice&password=x'],
    ['leading plus (PHP)', '/login', FORM, '+username=alice&password=x'],
    ['space after the separator (Rack 2, PHP)', '/login', FORM, 'password=x& username=alice'],
    ['NUL inside the name (PHP)', '/login', FORM, 'username%00x=alice&password=x'],
    ['brackets after a semicolon (Rack 2)', '/login', FORM, 'password=x;[username]=alice'],
    ['long s (case-folding binders)', '/login', FORM, 'u%C5%BFername=alice&password=x'],
    ['field default mark (Spring data binder)', '/login', FORM, '!username=alice&password=x'],
    ['encoded field default mark', '/login', FORM, '%21username=alice&password=x'],
    ['leading brackets in the query', '/login?[username]=alice', JSON_TYPE, '{"password":"x"}'],
    ['long s JSON key (Go encoding/json)', '/login', JSON_TYPE, '{"u\u017fername":"alice","password":"x"}'],
    ['escaped long s JSON key', '/login', JSON_TYPE, '{"u\\u017fername":"alice","password":"x"}'],
    ['underscore JSON key (fastjson)', '/login', JSON_TYPE, '{"user_name":"alice","password":"x"}'],
    ['dash and case JSON key (fastjson)', '/login', JSON_TYPE, '{"USER-NAME":"alice","password":"x"}'],
    ['leading underscore JSON key (fastjson)', '/login', JSON_TYPE, '{"_username":"alice","password":"x"}'],
    ['is-prefixed JSON key (fastjson)', '/login', JSON_TYPE, '{"isUsername":"alice","password":"x"}'],
    ['second account behind an underscore (fastjson)', '/login', JSON_TYPE,
      '{"username":"alice","password":"x","user_name":"bob","pass_word":"builder"}'],
  ];

  for (const [name, path, type, body] of cases) {
    const reply = await postLogin(gateway.port, body, type, path);
    t.equal(reply.status, 400, `${name} is rejected`);
    t.match(reply.json().detail, /username/, `${name}: the detail names the field`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('a dotted capital I in a field name is read as i', async (t) => {
  const { upstream, gateway } = await setUp(t, { login_routes: [{ path: '/login', username_field: 'email', password_field: 'password' }] });
  // Java's equalsIgnoreCase, as Jackson's case-insensitive properties use it, lower-cases İ to i.
  const cases: [string, string, string][] = [
    ['JSON key', JSON_TYPE, '{"ema\u0130l":"bob@example.com","email":"alice@example.com","password":"x"}'],
    ['form field', FORM, 'ema%C4%B0l=bob%40example.com&email=alice%40example.com&password=x'],
  ];
  for (const [name, type, body] of cases) {
    const reply = await postLogin(gateway.port, body, type);
    t.equal(reply.status, 400, `${name} with İ beside the field is rejected`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('form fields near the username are judged', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const body = 'username=alice&username_confirmation=bob&password=x';

  const reply = await postLogin(gateway.port, body, FORM);
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(reply.status, 401, 'a field whose name only starts with the username is forwarded');
  t.equal(decision.user?.name, 'alice', 'and judged as alice');
  t.equal(upstream.logins.length, 1);
});

t.test('headers named as the login fields never reach the app', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Spring MVC 6.2 binds headers to form properties, with the dashes of their names removed.
  const headers = { ...BROWSER_HEADERS, 'content-type': FORM, 'user-name': 'bob', Password: 'guess', 'Pass-Word': 'guess', 'x-theme': 'dark' };

  const reply = await send(gateway.port, { method: 'POST', path: '/login', headers, body: 'username=alice&password=x' });

  t.equal(reply.status, 401);
  const [received] = upstream.logins;
  t.equal(received.headers['user-name'], undefined, 'User-Name is removed');
  t.equal(received.headers.password, undefined, 'Password is removed');
  t.equal(received.headers['pass-word'], undefined, 'Pass-Word is removed');
  t.equal(received.headers['x-theme'], 'dark', 'other names stay');

  // Spring binds them on a GET to the login path too.
  await send(gateway.port, { path: '/login', headers: { ...BROWSER_HEADERS, 'Usern-ame': 'alice', Password: 'guess', 'Pass-Word': 'guess' } });
  const page = upstream.requests.at(-1)!;
  t.equal(page.method, 'GET');
  t.equal(page.headers['usern-ame'], undefined, 'Usern-ame is removed from a GET');
  t.equal(page.headers.password, undefined, 'Password too');
  t.equal(page.headers['pass-word'], undefined, 'and Pass-Word');
});

t.test('a username nested under another name is refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // ASP.NET's model binder reads these as username when the action's parameter has the
  // prefix's name, even beside a plain username field.
  const bodies = [
    'username=alice&profile[username]=bob&password=x',
    'username=alice&remember[me]=1&account.username=bob&password=x',
    'username=alice&[password]=x&x[username]=bob',
  ];

  for (const body of bodies) {
    const reply = await postLogin(gateway.port, body, FORM);
    t.equal(reply.status, 400, `${body} is refused`);
  }
  t.equal(upstream.logins.length, 0, 'none reached the app');
});

t.test('username field with an underscore and PHP spellings', async (t) => {
  const { upstream, gateway } = await setUp(t, {
    login_routes: [{ id: 'web', path: '/login', username_field: 'user_name' }],
  });
  // PHP turns " " and "." before the first "[", and an unclosed "[", into "_".
  const rejected = ['user.name=alice&password=x', 'user+name=alice&password=x', 'user[name=alice&password=x',
    'user.name[first]=alice&password=x'];

  for (const body of rejected) {
    const reply = await postLogin(gateway.port, body, FORM);
    t.equal(reply.status, 400, `${body} is rejected`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const accepted = await postLogin(gateway.port, 'user_name=alice&username=bob&password=x', FORM);
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(accepted.status, 401, 'the plain field is forwarded');
  t.equal(decision.user?.name, 'alice');
});

t.test('JSON keys that JavaScript apps read as a prototype are rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // An app that copies the body with Object.assign({}, body) reads alice from each of these.
  const bodies = [
    '{"__proto__":{"username":"alice"},"password":"x"}',
    '{"\\u005f_proto__":{"username":"alice"},"password":"x"}',
    '{"password":"x","profile":{"__proto__":{"admin":true}}}',
    '{"username":"alice","password":"x","constructor":{"prototype":{"admin":true}}}',
  ];

  for (const body of bodies) {
    const reply = await postLogin(gateway.port, body, JSON_TYPE);
    t.equal(reply.status, 400, `${body} is rejected`);
    t.match(reply.json().detail, /prototype/, `${body}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const plain = await postLogin(gateway.port, '{"username":"alice","password":"x","note":"prototype \\u0041"}', JSON_TYPE);
  t.equal(plain.status, 401, 'a value that only mentions the word is judged and forwarded');
});

t.test('JSON keys with NUL rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // cJSON and json-c read each of these keys as the part before the NUL.
  const bodies = [
    '{"username\\u0000":"alice","password":"x"}',
    '{"username\\u0000x":"alice","username":"bob","password":"x"}',
    '{"username":"alice","password\\u0000":"x"}',
    '{"session":{"username\\u0000":"alice"},"username":"bob","password":"x"}',
  ];

  for (const body of bodies) {
    const reply = await postLogin(gateway.port, body, JSON_TYPE);
    t.equal(reply.status, 400, `${body} is rejected`);
    t.match(reply.json().detail, /contains a NUL character/, `${body}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const value = await postLogin(gateway.port, '{"username":"alice","password":"x\\u0000y"}', JSON_TYPE);
  t.equal(value.status, 401, 'a NUL inside the password is judged and forwarded');
});

t.test('form bodies with more fields than PHP reads are refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // PHP reads the first 1,000 fields (max_input_vars), so it would read no username here.
  const filler = Array.from({ length: 1000 }, (_, index) => `f${index}=1`).join('&');
  for (const body of [`${filler}&username=alice&password=x`, `${filler};username=alice;password=x`]) {
    const reply = await postLogin(gateway.port, body, FORM);
    t.equal(reply.status, 413, 'a body with 1,002 fields is refused');
    t.match(reply.json().detail, /1002 fields, counting empty ones between separators; send at most 1000/,
      'the detail gives the count and the limit');
  }
  // qs counts empty fields toward its limit and reads nothing after it.
  const empty = await postLogin(gateway.port, `${'&'.repeat(1000)}username=alice&password=x`, FORM);
  t.equal(empty.status, 413, 'empty fields count too');
  t.match(empty.json().detail, /since parsers such as qs stop reading there, empty fields included/);
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const atLimit = Array.from({ length: 998 }, (_, index) => `f${index}=1`).join('&');
  const reply = await postLogin(gateway.port, `${atLimit}&username=alice&password=x`, FORM);
  t.equal(reply.status, 401, 'a body with 1,000 fields is judged and forwarded');
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.user.name, 'alice', 'its username was read');
});

t.test('JSON logins with more keys than a form has fields are refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Each key is read under every binder's spelling rules, so thousands of short keys cost
  // far more than one long value of the same size.
  const keys = Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`_${index.toString(36)}`, 0]));
  const refused = await postLogin(gateway.port, JSON.stringify({ username: 'alice', password: 'x', ...keys }));
  t.equal(refused.status, 413, 'a body with 1,002 top-level keys is refused');
  t.match(refused.json().detail, /1002 top-level keys; send at most 1000/, 'the detail gives the count and the limit');
  t.equal(upstream.requests.length, 0, 'it did not reach the app');

  const fewer = Object.fromEntries(Object.entries(keys).slice(0, 998));
  const judged = await postLogin(gateway.port, JSON.stringify({ username: 'alice', password: 'x', ...fewer }));
  t.equal(judged.status, 401, 'a body with 1,000 keys is judged and forwarded');
});

t.test('cookies naming another account are not forwarded', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // PHP's $_REQUEST lets cookies override form fields, and ASP.NET's Request[] falls back to
  // them, so a cookie naming another account must not reach the app with the login.
  const cases: [string, string, string, string | undefined][] = [
    ['a cookie naming another account', 'username=alice&password=x', 'username=bob', undefined],
    ['a cookie and no username in the body', 'password=x', 'theme=dark; username=bob', 'theme=dark'],
    ['a cookie name in another case', 'username=alice&password=x', 'theme=dark; USERNAME=bob; lang=en', 'theme=dark; lang=en'],
    ['an encoded cookie name', 'username=alice&password=x', 'user%6Eame=bob;lang=en', 'lang=en'],
    ['a comma between cookies', 'username=alice&password=x', 'lang=en, username=bob; theme=dark', 'theme=dark'],
    ['a planted cookie hidden in a value', 'username=frank&password=x',
      'username=bob,__Host-sess=planted; __Host-sess=owner; theme=dark', '__Host-sess=owner; theme=dark'],
    ['two cookies naming two accounts', 'username=alice&password=x', 'username=bob; a=1; username=carol; b=2', 'a=1; b=2'],
    // PHP skips leading spaces in a name, and older releases decode cookie names.
    ['a cookie name with a leading +', 'username=dora&password=x', 'lang=en; +username=bob', 'lang=en'],
    ['a cookie name with a leading %20', 'username=dora&password=x', '%20username=bob; lang=en', 'lang=en'],
  ];
  for (const [index, [name, body, cookie, forwarded]] of cases.entries()) {
    const reply = await send(gateway.port, {
      method: 'POST', path: '/login', body,
      headers: { ...BROWSER_HEADERS, 'content-type': FORM, cookie },
    });
    t.equal(reply.status, 401, `${name}: judged and forwarded`);
    t.equal(upstream.logins.length, index + 1, `${name}: the app got it`);
    t.equal(upstream.logins.at(-1)?.headers.cookie, forwarded, `${name}: the app gets ${forwarded ?? 'no cookie'}`);
    t.equal(upstream.logins.at(-1)?.body.toString(), body, `${name}: the body is unchanged`);
  }
  const decisions = await waitForDecisions(gateway.logs, cases.length);
  t.equal(decisions[0].user.name, 'alice', 'the login is judged as the body names it');
  t.equal(decisions[1].user, undefined, 'a body without username is judged by its address');

  const remembered = await send(gateway.port, {
    method: 'POST', path: '/login', body: 'username=Dave&password=x',
    headers: { ...BROWSER_HEADERS, 'content-type': FORM, cookie: 'username=dave; theme=dark' },
  });
  t.equal(remembered.status, 401, 'a cookie that names the same account is judged');
  t.equal(upstream.logins.length, cases.length + 1, 'and forwarded');
  t.equal(upstream.logins.at(-1)?.headers.cookie, 'username=dave; theme=dark', 'with the cookie kept as sent');

  const json = await send(gateway.port, {
    method: 'POST', path: '/login', body: JSON.stringify({ username: 'erin', password: 'x' }), source: '127.0.0.8',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', cookie: 'username=bob' },
  });
  t.equal(json.status, 401);
  t.equal(upstream.logins.length, cases.length + 2, 'the JSON login is forwarded');
  t.equal(upstream.logins.at(-1)?.headers.cookie, undefined, 'without the cookie: PHP reads cookies and ignores a JSON body');

  // PHP does not parse a JSON body, so $_REQUEST would read both fields from cookies.
  const empty = await send(gateway.port, {
    method: 'POST', path: '/login', body: '{}', source: '127.0.0.9',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', cookie: 'username=victim; password=guess' },
  });
  t.equal(empty.status, 401);
  t.equal(upstream.logins.at(-1)?.headers.cookie, undefined, 'a JSON login naming no one carries neither cookie');
});

t.test('JSON bodies that read as a form naming the username are refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Bottle's request.forms and PHP's parse_str(php://input) read any body as a form.
  const bodies = [
    '{"x":"&username=victim&password=guess&"}',
    '{"username":"decoy","x":";username=victim;"}',
    '{"x":"&USERNAME=victim"}',
  ];
  for (const body of bodies) {
    const reply = await postLogin(gateway.port, body, 'application/json');
    t.equal(reply.status, 400, `${body}: 400`);
    t.match(reply.json().detail, /reads as a form/, `${body}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const plain = await postLogin(gateway.port, '{"username":"alice","password":"p=q&r"}', 'application/json');
  t.equal(plain.status, 401, 'a password with = and & in it passes');
});

t.test('form bodies that other parsers read differently are refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const hidden = 'POST /login HTTP/1.1\r\nHost: app\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\nusername=victim&password=guess';
  const cases: [string, string][] = [
    // An app that responds before reading the body parses it as the next request.
    ['a whole HTTP request as the body', hidden],
    ['a line break inside the form', 'username=alice\npassword=x'],
    // ASP.NET decodes %u escapes and trims field names.
    ['a %u escape in the field name', 'user%u006eame=victim&password=x'],
    ['a %u escape in the value', 'username=%u0076ictim&password=x'],
    ['a field name with a trailing space', 'username%20=victim&password=x'],
    // .NET's String.Trim also removes NEXT LINE, which JavaScript's trim keeps.
    ['a field name with a trailing NEXT LINE', 'username%C2%85=victim&password=x'],
    ['a field name with a leading ideographic space', '%E3%80%80username=victim&password=x'],
  ];
  for (const [name, body] of cases) {
    const reply = await postLogin(gateway.port, body, FORM);
    t.equal(reply.status, 400, `${name}: 400`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const trailing = await postLogin(gateway.port, 'username=alice&password=x\r\n', FORM);
  t.equal(trailing.status, 401, 'a trailing line break is judged and forwarded');
});

t.test('look-alike username cookie removed', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // Counters fold accents and Unicode spaces, but an app that keeps them (PostgreSQL, SQL
  // Server's default collation) finds another account, and PHP's $_REQUEST reads the cookie.
  const cases: [string, string, string][] = [
    ['an accent look-alike', 'username=%C3%A1lice&password=x', 'username=alice; lang=en'],
    ['an ideographic-space look-alike', 'username=alice%E3%80%80&password=x', 'username=alice; lang=en'],
    ['a decomposed accent', 'username=a%CC%81lice&password=x', 'username=%C3%A1lice; lang=en'],
  ];
  for (const [index, [name, body, cookie]] of cases.entries()) {
    const reply = await send(gateway.port, {
      method: 'POST', path: '/login', body, source: `127.0.4.${index + 1}`,
      headers: { ...BROWSER_HEADERS, 'content-type': FORM, cookie },
    });
    t.equal(reply.status, 401, `${name}: judged and forwarded`);
    t.equal(upstream.logins.length, index + 1, `${name}: the app got it`);
    t.equal(upstream.logins.at(-1)?.headers.cookie, 'lang=en', `${name}: without the username cookie`);
  }
});

t.test('username cookie decoded otherwise is removed', async (t) => {
  // Markup is kept, so that usernames with escapes reach the cookie check.
  const { upstream, gateway } = await setUp(t, { username: { markup: 'keep' } });
  // Node reads the raw UTF-8 bytes of "alicé" as the Latin-1 "alicÃ©", which the body repeats,
  // while an app that reads them as UTF-8 checks alicé, which its collation reads as alice.
  // The bytes of a soft hyphen and "lice" read as "Â­lice", which folds to alice. An escape
  // that is not UTF-8 is "josé" in Latin-1.
  const cases: [string, string, string][] = [
    ['raw UTF-8 bytes', 'username=alic%C3%83%C2%A9&password=x', 'username=alic\u00c3\u00a9; lang=en'],
    ['raw UTF-8 bytes that fold', 'username=alice&password=x', 'username=\u00c2\u00adlice; lang=en'],
    ['an escape that is not UTF-8', 'username=jos%25E9&password=x', 'lang=en; username=jos%E9'],
    // PHP keeps a "+" in a cookie value, and ASP.NET decodes "%u" escapes.
    ['a plus sign', 'username=carol+shop%40example.com&password=x', 'username=carol+shop@example.com; lang=en'],
    ['a %u escape', 'username=alic%25u00e9&password=x', 'username=alic%u00e9; lang=en'],
    // PHP releases before the fix for CVE-2020-7070 decoded cookie names byte by byte and cut them at NUL.
    ['a name cut at NUL before an escape that is not UTF-8', 'username=dora&password=x', 'username%00%FF=bob; lang=en'],
  ];
  for (const [index, [name, body, cookie]] of cases.entries()) {
    // rawRequest writes the header block as Latin-1, so each character below U+0100 is one byte.
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', [...loginHeaders(body, FORM), ['Cookie', cookie]], body),
      { source: `127.0.3.${index + 1}` });
    t.equal(exchange.statuses[0], 401, `${name}: judged and forwarded`);
    t.equal(upstream.logins.length, index + 1, `${name}: the app got it`);
    t.equal(upstream.logins.at(-1)?.headers.cookie, 'lang=en', `${name}: without the username cookie`);
  }
});

t.test('a username cookie does not block JSON logins', async (t) => {
  const { gateway } = await setUp(t);
  // PHP's $_REQUEST and ASP.NET's Request[] merge cookies with form fields only.
  const reply = await send(gateway.port, {
    method: 'POST', path: '/login', body: '{"username":"bob","password":"x"}',
    headers: { ...BROWSER_HEADERS, 'content-type': JSON_TYPE, cookie: 'username=mallory' },
  });
  t.equal(reply.status, 401, 'the JSON login is judged and forwarded');
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.user.name, 'bob');
});

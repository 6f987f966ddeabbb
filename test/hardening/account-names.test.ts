import t from 'tap';

import { waitForDecisions } from '../helpers/wait.js';
import { postLogin, setUp } from './login-bodies.js';
import { sha256 } from './raw.js';

// Each body names alice in a way that a case- and accent-insensitive app reads as the same account.
const VARIANTS = [
  '{"username":"alice","password":"guess-1"}',
  '{"username":"Alice","password":"guess-2"}',
  '{"username":"ALICE","password":"guess-3"}',
  '{"username":" alice","password":"guess-4"}',
  '{"username":"alice ","password":"guess-5"}',
  '{"username":"alice\\t","password":"guess-6"}',
  '{"username":"al\\u0069ce","password":"guess-7"}',
  '{"username":"\uff41\uff4c\uff49\uff43\uff45","password":"guess-8"}',
  // An accent-insensitive collation (MySQL 8's default) finds alice for each of these.
  '{"username":"àlice","password":"guess-9"}',
  '{"username":"ALÎCE","password":"guess-10"}',
  '{"username":"ali\u0063\u0327e","password":"guess-11"}',
];

t.test('username variants count as one account', async (t) => {
  const { upstream, gateway } = await setUp(t);

  for (const body of VARIANTS) await postLogin(gateway.port, body);
  const decisions = await waitForDecisions(gateway.logs, VARIANTS.length);

  t.same([...new Set(decisions.map((line) => line.user.name))], ['alice'], 'every variant is logged as alice');
  for (let index = 0; index <= 5; index += 1) {
    t.equal(decisions[index].riskgate.counters.failures_per_account, index, `variant ${index} sees the failures before it`);
  }
  const last = decisions[VARIANTS.length - 1];
  t.equal(last.riskgate.counters.usernames_per_ip, 1, 'one distinct account from this address');
  t.equal(last.riskgate.decision, 'challenge', 'the account is challenged after five failures');
  t.equal(upstream.logins.length, 5);
  upstream.logins.forEach((received, index) => {
    t.equal(received.sha256, sha256(VARIANTS[index]), `variant ${index} reaches the app unchanged`);
  });
});

t.test('invisible characters and other diacritic blocks do not make another account', async (t) => {
  const { gateway } = await setUp(t);
  // Collations give these no weight, so an app finds alice for each; JSON escapes keep
  // them readable here.
  const bodies = [
    '{"username":"ali\\u00adce","password":"x"}',
    '{"username":"al\\u200bice","password":"x"}',
    '{"username":"alic\\u2060e","password":"x"}',
    '{"username":"\\ufeffalice","password":"x"}',
    '{"username":"a\\u1dc4lice","password":"x"}',
    '{"username":"alice \\u0301","password":"x"}',
    // Nonspacing diacritics of Arabic, Cyrillic, Hebrew and Thai.
    '{"username":"al\\u064bice","password":"x"}',
    '{"username":"ali\\u0483ce","password":"x"}',
    '{"username":"alic\\u0591e","password":"x"}',
    '{"username":"a\\u0e47lice","password":"x"}',
    // Marks a collation ignores without being diacritics, and one NFKC turns into a letter.
    '{"username":"ali\\u0358ce","password":"x"}',
    '{"username":"alice\\u20e3","password":"x"}',
    '{"username":"al\\u0345ice","password":"x"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.same(decisions.map((line) => line.user.name), Array(bodies.length).fill('alice'));
  t.same(decisions.slice(0, 6).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3, 4, 5],
    'each variant sees the failures of the ones before it');
  t.same(decisions.slice(5).map((line) => line.riskgate.decision), Array(bodies.length - 5).fill('challenge'),
    'after five failures every later variant is challenged as the same account');
});

t.test('letters the collation reads as another letter make no other account', async (t) => {
  const { gateway } = await setUp(t);
  // ICU's root collation at base strength, like MySQL 8's utf8mb4_0900_ai_ci, reads each of
  // these as alice: letters with a stroke or slash that Unicode does not decompose, enclosed
  // letters, a script letter, and Arabic signs the collation ignores.
  const bodies = [
    '{"username":"a\u0142ice","password":"x"}',
    '{"username":"\u24d0lice","password":"x"}',
    '{"username":"alic\u24ba","password":"x"}',
    '{"username":"a\u0640\u0640\u0640lice","password":"x"}',
    '{"username":"\u0600alice","password":"x"}',
    '{"username":"a\u2113ice","password":"x"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  await postLogin(gateway.port, '{"username":"bj\u00f8rn","password":"x"}');
  await postLogin(gateway.port, '{"username":"\u00e6sir","password":"x"}');
  const decisions = await waitForDecisions(gateway.logs, bodies.length + 2);

  t.same(decisions.slice(0, bodies.length).map((line) => line.user.name), Array(bodies.length).fill('alice'));
  t.same(decisions.slice(0, 6).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3, 4, 5],
    'each variant sees the failures of the ones before it');
  t.equal(decisions[bodies.length].user.name, 'bjorn', 'a slashed o is an o');
  t.equal(decisions[bodies.length + 1].user.name, 'aesir', 'a ligature is its two letters');
});

t.test('collation expansions and letter groups merge', async (t) => {
  const { gateway } = await setUp(t);
  // ICU's root collation at base strength, and MariaDB's UCA collations, read each pair as
  // one name: an enclosed number as its digits, an isolated Arabic vowel sign as nothing,
  // and a Hebrew final letter as its plain form.
  const pairs = [
    ['carol11', 'carol\u24eb'],
    ['dave11', 'da\ufe70ve11'],
    ['\u05e9\u05dc\u05d5\u05dd', '\u05e9\u05dc\u05d5\u05de'],
  ];

  for (const [plain, variant] of pairs) {
    await postLogin(gateway.port, JSON.stringify({ username: plain, password: 'x' }));
    await postLogin(gateway.port, JSON.stringify({ username: variant, password: 'x' }));
  }
  const decisions = await waitForDecisions(gateway.logs, pairs.length * 2);

  pairs.forEach(([plain, variant], index) => {
    const [first, second] = decisions.slice(index * 2, index * 2 + 2);
    t.equal(second.user.name, first.user.name, `${JSON.stringify(variant)} is ${JSON.stringify(plain)}`);
    t.equal(second.riskgate.counters.failures_per_account, 1, `${JSON.stringify(variant)} sees the failure before it`);
  });
});

t.test('letters WordPress reads as ASCII make no other account', async (t) => {
  const { gateway } = await setUp(t);
  // WordPress's remove_accents reads these as jon, kent, thar and la, where a collation keeps
  // each letter apart, and looks the account up by the result.
  const bodies = [
    '{"username":"jon","password":"x"}',
    '{"username":"jo\u014b","password":"x"}',
    '{"username":"JO\u014a","password":"x"}',
    '{"username":"jo\u0149","password":"x"}',
    '{"username":"\u0138e\u014b\u0167","password":"x"}',
    '{"username":"\u00fe\u0251r","password":"x"}',
    '{"username":"\u0140\u0251","password":"x"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.same(decisions.slice(0, 4).map((line) => line.user.name), Array(4).fill('jon'), 'each spelling of jon is jon');
  t.same(decisions.slice(0, 4).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3],
    'each spelling sees the failures before it');
  t.equal(decisions[4].user.name, 'kent', 'kra, eng and t with stroke are k, n and t');
  t.equal(decisions[5].user.name, 'thar', 'thorn is th and Latin alpha is a');
  t.equal(decisions[6].user.name, 'la', 'l with middle dot is l');
});

t.test('symbols WordPress rewrites make no other account', async (t) => {
  const { gateway } = await setUp(t);
  // WordPress's remove_accents removes the pound sign and reads the euro sign, the capital
  // schwa and the turned e as E or e, so each name below checks the password of jen there.
  const bodies = [
    '{"username":"jen","password":"x"}',
    '{"username":"j\u20acn","password":"x"}',
    '{"username":"j\u018fn","password":"x"}',
    '{"username":"j\u01ddn","password":"x"}',
    '{"username":"\u00a3je\u00a3n\u00a3","password":"x"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  await postLogin(gateway.port, '{"username":"j\u0259n","password":"x"}');
  const decisions = await waitForDecisions(gateway.logs, bodies.length + 1);

  t.same(decisions.slice(0, bodies.length).map((line) => line.user.name), Array(bodies.length).fill('jen'),
    'each spelling of jen is jen');
  t.same(decisions.slice(0, bodies.length).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3, 4],
    'each spelling sees the failures before it');
  t.equal(decisions[bodies.length].user.name, 'j\u0259n', 'a small schwa, which WordPress keeps, stays a letter');
});

t.test('username letters follow the app\'s own map', async (t) => {
  // WordPress in a German locale reads ä, ö, ü and ß as ae, oe, ue and ss before it looks the
  // account up, so each spelling below checks mueller's password there.
  const { gateway } = await setUp(t, { username: { letters: { 'ä': 'ae', 'ö': 'oe', 'ü': 'ue', 'ß': 'ss' } } });
  const bodies = [
    '{"username":"mueller","password":"x"}',
    '{"username":"M\u00fcller","password":"x"}',
    '{"username":"M\u00dcLLER","password":"x"}',
    '{"username":"mu\u0308ller","password":"x"}',
    '{"username":"stra\u00dfe","password":"x"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.same(decisions.slice(0, 4).map((line) => line.user.name), Array(4).fill('mueller'), 'each spelling of mueller is mueller');
  t.same(decisions.slice(0, 4).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3],
    'each spelling sees the failures before it');
  // Under collation any, a run of s is one s, so the map's ss reads as strase.
  t.equal(decisions[4].user.name, 'strase', 'the sharp s is read through the map');
});

t.test('hiragana and katakana spellings are one account', async (t) => {
  const { gateway } = await setUp(t);
  // The collation reads kana in either script, and small kana, as the same letters.
  const names = ['\u3084\u307e\u3060', '\u30e4\u30de\u30c0', '\u3084\u30de\u3060', '\u30e4\u307e\u30c0'];

  for (const name of names) await postLogin(gateway.port, `{"username":"${name}","password":"x"}`);
  await postLogin(gateway.port, '{"username":"\u3061\u3087\u3063\u3068","password":"x"}');
  await postLogin(gateway.port, '{"username":"\u30c1\u30e7\u30c3\u30c8","password":"x"}');
  const decisions = await waitForDecisions(gateway.logs, names.length + 2);

  t.same(decisions.slice(0, names.length).map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3],
    'each spelling sees the failures of the ones before it');
  t.equal(decisions[names.length + 1].riskgate.counters.failures_per_account, 1, 'small kana count as their full-size forms');
});

t.test('username accents are kept with accents preserve', async (t) => {
  const { gateway } = await setUp(t, { username: { accents: 'preserve' } });

  await postLogin(gateway.port, '{"username":"josé","password":"x"}');
  await postLogin(gateway.port, '{"username":"jose","password":"x"}');
  await postLogin(gateway.port, '{"username":"JOSÉ","password":"x"}');
  const decisions = await waitForDecisions(gateway.logs, 3);

  t.equal(decisions[0].user.name, 'josé');
  t.equal(decisions[1].riskgate.counters.failures_per_account, 0, 'jose is another account than josé');
  t.equal(decisions[2].user.name, 'josé', 'case is still folded');
  t.equal(decisions[2].riskgate.counters.failures_per_account, 1);
});

t.test('username case is kept with case preserve', async (t) => {
  const { gateway } = await setUp(t, { username: { case: 'preserve' } });

  await postLogin(gateway.port, '{"username":"alice","password":"x"}');
  await postLogin(gateway.port, '{"username":"Alice","password":"x"}');
  await postLogin(gateway.port, '{"username":" Alice ","password":"x"}');
  const decisions = await waitForDecisions(gateway.logs, 3);

  t.equal(decisions[0].user.name, 'alice');
  t.equal(decisions[1].user.name, 'Alice');
  t.equal(decisions[1].riskgate.counters.failures_per_account, 0, 'Alice is another account than alice');
  t.equal(decisions[2].user.name, 'Alice', 'white space is still trimmed');
  t.equal(decisions[2].riskgate.counters.failures_per_account, 1);
});

t.test('a username with markup that WordPress strips is refused, and runs of spaces are one', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // WordPress's sanitize_user removes tags, %XX escapes and entities before it looks the
  // account up, so each of these checks admin's password there. It removes escapes and
  // entities after it reads accents as ASCII, so `%àà` and `&àmp;` go too.
  const FORM = 'application/x-www-form-urlencoded';
  const refused = ['ad<b>min', 'ad<i1>min', 'ad%2541min', 'adm&x;in', 'admin>', 'ad%ààmin', 'ad%€0min', 'adm&àmp;in', 'ad%ＡＡmin', 'ad%ª1min'];
  for (const name of refused) {
    const reply = await postLogin(gateway.port, `username=${encodeURIComponent(name)}&password=x`, FORM);
    t.equal(reply.status, 400, `${name} gets 400`);
    t.match(reply.json().detail, /markup that apps such as WordPress remove/, `${name}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  // WordPress reads a run of white space, tabs and line breaks among it, as one space: one account.
  const spellings = ['john smith', 'john   smith', 'john\tsmith', 'john\r\n smith', 'john\u000b\fsmith'];
  for (const name of spellings) await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
  const decisions = await waitForDecisions(gateway.logs, spellings.length);
  t.same(decisions.map((line) => line.user.name), Array(spellings.length).fill('john smith'), 'each spelling is logged as john smith');
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3, 4], 'each spelling sees the failures before it');
  t.equal(decisions[4].riskgate.counters.usernames_per_ip, 1, 'one account from this address');
  t.same(upstream.logins.map((login) => login.sha256), spellings.map((name) => sha256(JSON.stringify({ username: name, password: 'x' }))),
    'each reaches the app unchanged');
});

t.test('username markup is read as written with markup keep', async (t) => {
  const { upstream, gateway } = await setUp(t, { username: { markup: 'keep' } });

  await postLogin(gateway.port, '{"username":"ad<b>min","password":"x"}');
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.user.name, 'ad<b>min');
  t.equal(upstream.logins.length, 1);
});

t.test('a nested username field is read from JSON as Rails reads it', async (t) => {
  const { upstream, gateway } = await setUp(t, {
    login_routes: [{ path: '/login', username_field: 'session[email]', password_field: 'session[password]' }],
  });
  // Rails wraps the keys of a JSON body that lacks "session" under it (ParamsWrapper), so
  // the flat body names the account too.
  const bodies = [
    '{"session":{"email":"alice","password":"guess-1"}}',
    '{"email":"alice","password":"guess-2"}',
    '{"session":{"email":"alice","password":"guess-3"},"email":"bob"}',
  ];

  for (const body of bodies) await postLogin(gateway.port, body);
  const refused = await postLogin(gateway.port, '{"session":"x","email":"alice","password":"guess-4"}');
  // Rails finds no "session" beside "Session", so it wraps and reads the top-level alice,
  // where Go and ASP.NET Core read the nested decoy or nothing.
  const otherCase = [
    await postLogin(gateway.port, '{"Session":{"email":"decoy","password":"x"},"email":"alice","password":"guess-5"}'),
    await postLogin(gateway.port, '{"SESSION":{},"email":"alice","password":"guess-6"}'),
  ];
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.same(decisions.map((line) => line.user?.name), ['alice', 'alice', 'alice'], 'each names alice');
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2], 'and counts her failures');
  t.equal(refused.status, 400, 'a session key that holds no object is refused');
  t.same(otherCase.map((reply) => reply.status), [400, 400], 'a session key in another case beside a top-level email is refused');
  t.match(otherCase[0].json().detail, /Rails reads the top-level one/, 'the detail says why');
  t.equal(upstream.logins.length, bodies.length);
});

t.test('nested username keys in another case are read', async (t) => {
  const { upstream, gateway } = await setUp(t, {
    login_routes: [{ path: '/login', username_field: 'user.email', password_field: 'user.password' }],
  });
  // Go's encoding/json and ASP.NET Core bind a nested key in any case, as at the top level.
  await postLogin(gateway.port, '{"user":{"Email":"alice","password":"guess-1"}}');
  await postLogin(gateway.port, '{"user":{"EMAIL":"alice","password":"guess-2","nested":{"email":"bob"}}}');
  const rejected = [
    '{"user":{"email":"decoy","EMAIL":"alice","password":"guess-3"}}',
    '{"user":{"email":"decoy","email":"alice","password":"guess-4"}}',
  ];
  const replies = [];
  for (const body of rejected) replies.push(await postLogin(gateway.port, body));
  const decisions = await waitForDecisions(gateway.logs, 2);

  t.same(decisions.map((line) => line.user?.name), ['alice', 'alice'], 'each names alice');
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1], 'and counts her failures');
  t.same(replies.map((reply) => reply.status), [400, 400], 'two spellings of the key are refused');
  t.equal(upstream.logins.length, 2, 'only the readable logins reach the app');
});

t.test('spellings that ASP.NET binds by a prefix are refused', async (t) => {
  const FORM = 'application/x-www-form-urlencoded';
  const { upstream, gateway } = await setUp(t, {
    login_routes: [
      { id: 'identity', path: '/identity/login', username_field: 'Input.Email', password_field: 'Input.Password' },
      { id: 'mvc', path: '/account/login', username_field: 'Email', password_field: 'Password' },
    ],
  });
  // The Identity page binds Input from bare names when no field starts with "Input", and an
  // MVC action binds its parameter "model" from "model.Email" as well as "Email".
  const refused: [string, string][] = [
    ['/identity/login', 'Email=alice&Password=guess'],
    ['/account/login', 'model.Email=alice&model.Password=guess'],
    ['/account/login', 'model%5BEmail%5D=alice&Password=guess'],
  ];

  for (const [path, body] of refused) {
    const reply = await postLogin(gateway.port, body, FORM, path);
    t.equal(reply.status, 400, `${path} ${body}: 400`);
    t.match(reply.json().detail, /ASP\.NET's model binder reads/, `${body}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  await postLogin(gateway.port, 'Input.Email=alice&Input.Password=guess', FORM, '/identity/login');
  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.user?.name, 'alice', 'the form\'s own names are judged');
});

t.test('long usernames differing at the end stay distinct accounts', async (t) => {
  const { gateway } = await setUp(t);
  const stem = 'x'.repeat(2000);

  await postLogin(gateway.port, JSON.stringify({ username: `${stem}a`, password: 'x' }));
  await postLogin(gateway.port, JSON.stringify({ username: `${stem}b`, password: 'x' }));
  const decisions = await waitForDecisions(gateway.logs, 2);

  t.equal(decisions[1].riskgate.counters.failures_per_account, 0, 'the second name has no failures of its own');
  t.equal(decisions[1].riskgate.counters.usernames_per_ip, 1, 'the first name counted as another account');
});

t.test('ambiguous username fields are rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const cases: [string, string, string, string][] = [
    ['duplicate JSON key', '/login', 'application/json', '{"username":"bob","username":"alice","password":"x"}'],
    ['escaped duplicate JSON key', '/login', 'application/json', '{"user\\u006eame":"bob","username":"alice","password":"x"}'],
    ['duplicate form field', '/login', 'application/x-www-form-urlencoded', 'username=bob&username=alice&password=x'],
    ['encoded duplicate form field', '/login', 'application/x-www-form-urlencoded', 'user%6Eame=bob&username=alice&password=x'],
    ['semicolon-separated form field', '/login', 'application/x-www-form-urlencoded', 'password=x;username=alice'],
    ['query username differing from the body', '/login?username=bob', 'application/json', '{"username":"alice","password":"x"}'],
    ['JSON keys differing in case', '/login', 'application/json', '{"username":"bob","USERNAME":"alice","password":"x"}'],
    ['form names differing in case', '/login', 'application/x-www-form-urlencoded', 'username=bob&UserName=alice&password=x'],
    ['form array field', '/login', 'application/x-www-form-urlencoded', 'username[]=alice&password=x'],
    ['form indexed field', '/login', 'application/x-www-form-urlencoded', 'username[0]=alice&password=x'],
    ['form object field', '/login', 'application/x-www-form-urlencoded', 'username[name]=alice&password=x'],
    ['encoded form array field', '/login', 'application/x-www-form-urlencoded', 'username%5B%5D=alice&password=x'],
    ['query array field', '/login?username[]=alice', 'application/json', '{"password":"x"}'],
  ];

  for (const [name, path, type, body] of cases) {
    const reply = await postLogin(gateway.port, body, type, path);
    t.equal(reply.status, 400, `${name} is rejected`);
  }

  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('username in the query string alone is judged', async (t) => {
  const { upstream, gateway } = await setUp(t);

  await postLogin(gateway.port, '{"password":"x"}', 'application/json', '/login?username=Alice');
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.user?.name, 'alice', 'the account comes from the query string');
  t.equal(upstream.logins.length, 1);
  t.equal(upstream.logins[0].url, '/login?username=Alice');
});

t.test('nested username fields do not count as the top-level one', async (t) => {
  const { gateway } = await setUp(t);

  await postLogin(gateway.port, '{"profile":{"username":"bob"},"username":"alice","password":"x"}');
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.user.name, 'alice');
});

t.test('username field in another case is judged', async (t) => {
  const { upstream, gateway } = await setUp(t);

  await postLogin(gateway.port, '{"Username":"Alice","password":"x"}');
  await postLogin(gateway.port, 'USERNAME=alice&password=x', 'application/x-www-form-urlencoded');
  const decisions = await waitForDecisions(gateway.logs, 2);

  t.equal(decisions[0].user?.name, 'alice', 'a case-insensitive JSON binder reads this account');
  t.equal(decisions[1].user?.name, 'alice', 'a case-insensitive form binder reads this account');
  t.equal(decisions[1].riskgate.counters.failures_per_account, 1, 'both count against one account');
  t.equal(upstream.logins.length, 2);
});

t.test('usernames read differently by other parsers are rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const json = '{"username":"alice","password":"x"}';
  const cases: [string, string, string, number][] = [
    ['charset with spaces around =', 'application/json; charset = utf-16le', json, 415],
    ['quoted charset in upper case', 'application/json; CHARSET="ISO-8859-1"', json, 415],
    ['two charsets', 'application/json; charset=utf-8; charset=iso-8859-1', json, 400],
    ['lone surrogate escape', 'application/json', '{"username":"alice\\ud800","password":"x"}', 400],
    ['lone low surrogate escape', 'application/json', '{"username":"\\udc00alice","password":"x"}', 400],
    ['form escape that is not UTF-8', 'application/x-www-form-urlencoded', 'username=alice%FF&password=x', 400],
    ['form escape of a surrogate', 'application/x-www-form-urlencoded', 'username=alice%ED%A0%80&password=x', 400],
    // Laravel reads any Content-Type holding "+json" as JSON, parameters included.
    ['form type with a +json parameter', 'application/x-www-form-urlencoded; charset=utf-8; x=+json', json, 400],
    ['JSON type with another parameter', 'application/json; profile=x', json, 400],
    // Handlers that decode JSON whatever the Content-Type find alice here.
    ['JSON body under a form type', 'application/x-www-form-urlencoded', json, 400],
    ['JSON body after white space under a form type', 'application/x-www-form-urlencoded', ` \n${json}`, 400],
    ['JSON body holding a form field under a form type', 'application/x-www-form-urlencoded',
      '{"note":"&username=bob","username":"alice","password":"x"}', 400],
    // Python's json.loads takes NaN, Go's json.Decoder stops after the first value, and Ruby's
    // JSON.parse skips comments; none of these is JSON to JSON.parse.
    ['JSON with NaN under a form type', 'application/x-www-form-urlencoded', '{"username":"bob","password":"x","n":NaN}', 400],
    ['JSON with a tail under a form type', 'application/x-www-form-urlencoded', '{"username":"bob","password":"x"}x&username=decoy', 400],
    ['JSON with a comment under a form type', 'application/x-www-form-urlencoded', '{/* c */"username":"bob","password":"x"}', 400],
    // Gson and Ruby also skip comments before the object, which a form parser reads as a field name.
    ['JSON after a comment under a form type', 'application/x-www-form-urlencoded', '/**/{"username":"bob","password":"x"}', 400],
    ['JSON after a line comment under a form type', 'application/x-www-form-urlencoded', '// x&username=decoy\n{"username":"bob","password":"x"}', 400],
    ['JSON after a hash comment under a form type', 'application/x-www-form-urlencoded', '# x\n{"username":"bob","password":"x"}', 400],
  ];

  for (const [name, type, body, status] of cases) {
    const reply = await postLogin(gateway.port, body, type);
    t.equal(reply.status, status, `${name}: ${status}`);
  }
  const query = await postLogin(gateway.port, '{"password":"x"}', 'application/json', '/login?username=alice%C0');
  t.equal(query.status, 400, 'a query username that is not UTF-8 is rejected too');
  t.equal(upstream.requests.length, 0, 'none reached the app');

  const accepted = [
    ['literal percent sign', 'username=100%&password=x', '100%'],
    ['escaped multi-byte character', 'username=wei%E5%BC%A0&password=x', 'wei\u5f20'],
    ['password that is not UTF-8', 'username=erin&password=%FF%FE', 'erin'],
  ];
  for (const [name, body] of accepted) {
    const reply = await postLogin(gateway.port, body, 'application/x-www-form-urlencoded');
    t.equal(reply.status, 401, `${name}: judged and forwarded`);
  }
  const decisions = await waitForDecisions(gateway.logs, accepted.length);
  t.same(decisions.map((line) => line.user.name), accepted.map(([, , expected]) => expected), 'each username is read as the app reads it');
  const paired = await postLogin(gateway.port, '{"username":"x\\ud83d\\ude00","password":"x"}');
  t.equal(paired.status, 401, 'a surrogate pair escape is an ordinary character');
  const trailing = await postLogin(gateway.port, json, 'application/json;');
  t.equal(trailing.status, 401, 'an empty parameter after the media type is judged and forwarded');
});

t.test('e-mail spellings that the app canonicalises count as one account', async (t) => {
  const cases: [string, string[], string][] = [
    // validator.js normalizeEmail drops dots and +tags of Gmail addresses and reads googlemail.com as gmail.com.
    ['validator', ['alice@gmail.com', 'a.lice@gmail.com', 'alice+1@gmail.com', 'A.L.I.C.E+x@googlemail.com', 'alice@GMAIL.com'], 'alice@gmail.com'],
    // PHP's FILTER_SANITIZE_EMAIL removes every character an address may not contain.
    ['php_filter', ['alice@example.com', 'ali(ce@example.com', 'al;ice@example.com', 'al\u2603ice@example.com', 'ali ce@example.com'], 'alice@example.com'],
  ];
  for (const [email, spellings, account] of cases) {
    const { gateway } = await setUp(t, { username: { email } });
    for (const [index, spelling] of spellings.entries()) {
      await postLogin(gateway.port, JSON.stringify({ username: spelling, password: `guess-${index}` }));
    }
    const decisions = await waitForDecisions(gateway.logs, spellings.length);
    t.same([...new Set(decisions.map((line) => line.user.name))], [account], `${email}: every spelling is logged as ${account}`);
    t.equal(decisions.at(-1)!.riskgate.counters.failures_per_account, spellings.length - 1, `${email}: the failures add up on one account`);
  }
});

t.test('a username with a NUL is refused', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // An app that reads the name as a C string checks alice's password for each of these.
  for (const body of ['{"username":"alice\\u0000k","password":"x"}', 'username=alice%00k&password=x']) {
    const type = body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded';
    const reply = await postLogin(gateway.port, body, type);
    t.equal(reply.status, 400, `${body}: 400`);
    t.match(reply.json().detail, /NUL/, `${body}: the detail names the NUL`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('username control characters rejected', async (t) => {
  const { upstream, gateway } = await setUp(t);
  // A collation ignores these, an exact comparison keeps them, and Python's strip removes
  // U+001F and U+0085 at the ends: each app finds another account or none.
  const bodies = [
    ['{"username":"ali\\u0001ce","password":"x"}', 'U+0001'],
    ['{"username":"alice\\u001f","password":"x"}', 'U+001F'],
    ['{"username":"alice\\u0085","password":"x"}', 'U+0085'],
    ['username=ali%7Fce&password=x', 'U+007F'],
    ['username=%1Balice&password=x', 'U+001B'],
  ];
  for (const [body, code] of bodies) {
    const type = body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded';
    const reply = await postLogin(gateway.port, body, type);
    t.equal(reply.status, 400, `${body}: 400`);
    t.match(reply.json().detail, `control character ${code}`, `${body}: the detail names the character`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  // White space controls are still read as spaces and trimmed.
  const reply = await postLogin(gateway.port, '{"username":"alice\\t\\r\\n","password":"x"}');
  t.equal(reply.status, 401, 'a name ending in white space is judged and forwarded');
  t.equal((await waitForDecisions(gateway.logs, 1))[0].user.name, 'alice');
});

t.test('collation uca keeps look-alikes apart', async (t) => {
  const names = ['alice', 'al\u0131ce', 'alic\u01dd', 'ALICE', '\u00e0lice'];
  for (const [collation, expected] of [['uca', 3], ['any', 1]] as const) {
    const { gateway } = await setUp(t, { username: { collation } });
    for (const name of names) await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    const decisions = await waitForDecisions(gateway.logs, names.length);
    const accounts = decisions.map((line) => line.user.name);
    t.equal(new Set(accounts).size, expected, `collation ${collation}: ${expected} account(s)`);
    t.equal(accounts[3], accounts[0], `collation ${collation}: case still folds`);
    t.equal(accounts[4], accounts[0], `collation ${collation}: accents still fold`);
  }
});

t.test('supplementary characters removed under any', async (t) => {
  // SQL Server's older collations ignore each of these, and MySQL's utf8mb4_general_ci
  // and utf8mb4_unicode_ci give each the weight 0xFFFD.
  const names = ['kenji\u{20bb7}', 'kenji\u{1f600}', 'KENJI\u{10348}', 'kenji'];
  for (const [collation, expected] of [['any', 1], ['uca', 4]] as const) {
    const { gateway } = await setUp(t, { username: { collation } });
    for (const name of names) await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    const decisions = await waitForDecisions(gateway.logs, names.length);
    t.equal(new Set(decisions.map((line) => line.user.name)).size, expected, `collation ${collation}: ${expected} account(s)`);
    if (collation === 'any') t.equal(decisions[3].riskgate.counters.failures_per_account, 3, 'each spelling sees the failures before it');
  }
});

t.test('ambiguous name characters get 400', async (t) => {
  // ICU reads these as alice and newsos, while SQL Server ignores them and reads lice and nothing.
  const spellings = ['\u{1f150}lice', 'alic\u{1f174}', '\u{1d41a}lice', '\u{1f195}\u{1f198}', '\u{1f600}', '\u200b\u{1f600}'];
  const { upstream, gateway } = await setUp(t);
  for (const name of spellings) {
    const reply = await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    t.equal(reply.status, 400, `${JSON.stringify(name)} is refused`);
    t.match(reply.json().detail, /U\+1|only characters that collations ignore/, `${JSON.stringify(name)}: the detail says why`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');

  // SQL Server's collations ignore code points that Unicode assigns no character.
  for (const name of ['alice\u0378', 'ali\u0530ce']) {
    const reply = await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    t.equal(reply.status, 400, `${JSON.stringify(name)} is refused`);
    t.match(reply.json().detail, /assigns no character/);
  }

  const uca = await setUp(t, { username: { collation: 'uca' } });
  for (const name of spellings.slice(0, 4)) await postLogin(uca.gateway.port, JSON.stringify({ username: name, password: 'x' }));
  const decisions = await waitForDecisions(uca.gateway.logs, 4);
  t.same(decisions.map((line) => line.user.name), ['alice', 'alice', 'alice', 'newsos'], 'collation uca reads them as ICU does');
});

t.test('older UCA merges share the account', async (t) => {
  // MariaDB's utf8mb4_unicode_ci (UCA 4.0.0) ignores the rub el hizb and reads a Bengali
  // currency numerator as its digit. Every UCA collation and ICU read ŀ as l. NFKC and case
  // folding make WordPress's letters of ᵑ and Ɑ.
  const pairs = [['alice', 'alice\u06de'], ['carol1', 'carol\u09f4'], ['alice', 'a\u0140ice'], ['nina', 'ni\u1d51a'], ['dave', 'd\u2c6dve']];
  const { gateway } = await setUp(t);
  for (const [plain, variant] of pairs) {
    await postLogin(gateway.port, JSON.stringify({ username: plain, password: 'x' }));
    await postLogin(gateway.port, JSON.stringify({ username: variant, password: 'x' }));
  }
  const decisions = await waitForDecisions(gateway.logs, pairs.length * 2);
  pairs.forEach(([plain, variant], index) => {
    t.equal(decisions[index * 2 + 1].user.name, decisions[index * 2].user.name, `${JSON.stringify(variant)} is ${plain}`);
  });
});

t.test('sharp s spellings share the account', async (t) => {
  // MySQL's general_ci reads ß as s and Unicode collations read it as ss, so each of these
  // is jessica.ross in one app or the other.
  const names = ['jessica.ross', 'je\u00dfsica.ro\u00df\u00df', 'je\u00df\u00dfica.ro\u00dfs', 'JE\u1e9eICA.ROSS', 'jesica.ros'];
  for (const [collation, expected] of [['any', 1], ['uca', 4]] as const) {
    const { gateway } = await setUp(t, { username: { collation } });
    for (const name of names) await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    const decisions = await waitForDecisions(gateway.logs, names.length);
    t.equal(new Set(decisions.map((line) => line.user.name)).size, expected, `collation ${collation}: ${expected} account(s)`);
    if (collation === 'any') t.equal(decisions[4].riskgate.counters.failures_per_account, 4, 'each spelling sees the failures before it');
  }
});

t.test('form_charset iso-8859-1 reads Latin-1', async (t) => {
  const FORM = 'application/x-www-form-urlencoded';
  // Tomcat reads a form without a charset as ISO-8859-1: %C3%87 is Ã and a control
  // character, which an accent-insensitive collation reads as a, so each body is alice.
  const bodies = ['username=alice&password=x', 'username=%C3%87lice&password=x', 'username=%C3%9Flice&password=x',
    'username=%C3%ADlice&password=x', 'username=alic%C8%8F&password=x', 'username=%E1lice&password=x'];
  const route = { path: '/login', form_charset: 'iso-8859-1' };
  const { upstream, gateway } = await setUp(t, { login_routes: [route] });

  for (const body of bodies) await postLogin(gateway.port, body, FORM);
  const decisions = await waitForDecisions(gateway.logs, bodies.length);

  t.same(decisions.map((line) => line.user.name), Array(bodies.length).fill('alice'), 'every body is alice');
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3, 4, 5], 'each sees the failures before it');
  t.equal(upstream.logins[1]?.body.toString(), bodies[1], 'the body reaches the app unchanged');

  // A form that names UTF-8 is read as UTF-8, as the container does.
  const named = await setUp(t, { login_routes: [route] });
  await postLogin(named.gateway.port, 'username=%C3%A9mile&password=x', `${FORM}; charset=utf-8`);
  const [line] = await waitForDecisions(named.gateway.logs, 1);
  t.equal(line.user.name, 'emile', 'a named charset wins');

  // Without the setting, the same bytes are UTF-8: Ç, the letter c.
  const plain = await setUp(t);
  await postLogin(plain.gateway.port, 'username=%C3%87lice&password=x', FORM);
  const [utf8Line] = await waitForDecisions(plain.gateway.logs, 1);
  t.equal(utf8Line.user.name, 'clice', 'the default reads UTF-8');
});

t.test('username.ignorables keep makes a filler another account', async (t) => {
  const exact = { case: 'preserve', accents: 'preserve', nfkc: false, trim: false, markup: 'keep' };
  const names = ['alice', 'alice\u3164', 'ali\u00adce'];
  for (const [ignorables, expected] of [['keep', 3], ['remove', 1]] as const) {
    const { gateway } = await setUp(t, { username: { ...exact, ignorables } });
    for (const name of names) await postLogin(gateway.port, JSON.stringify({ username: name, password: 'x' }));
    const decisions = await waitForDecisions(gateway.logs, names.length);
    t.equal(new Set(decisions.map((line) => line.user.name)).size, expected, `ignorables ${ignorables}: ${expected} account(s)`);
  }
});

t.test('a deeply nested JSON login gets 400', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const deep = `{"username":"alice","password":"x","grant_type":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;

  const reply = await postLogin(gateway.port, deep);

  t.equal(reply.status, 400, 'not a 500 from a reader that runs out of stack');
  t.match(reply.json().detail, /nested 30001 levels deep; send at most 64/);
  t.equal(upstream.requests.length, 0, 'nothing reached the app');
});

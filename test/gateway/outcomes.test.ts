import http from 'node:http';
import type { AddressInfo } from 'node:net';

import t, { type Test } from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { BROWSER_HEADERS, login, send, startTestGateway, type Reply, type TestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';

type Tap = Test;

/** Start an upstream whose login responses have the statuses of `statuses` in turn. */
async function scriptedUpstream(t: Tap, statuses: number[]) {
  const upstream = await new RecordingUpstream().start();
  const queue = [...statuses];
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const status = queue.shift() ?? 200;
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (status >= 300 && status < 400) headers.location = '/home';
    response.writeHead(status, headers);
    response.end(`status ${status}`);
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

async function gatewayFor(t: Tap, upstream: string, options: Partial<TestGatewayOptions> = {}) {
  const gateway = await startTestGateway({ upstream, clock: new FakeClock().read, ...options });
  t.teardown(() => gateway.close());
  return gateway;
}

t.test('default statuses decide outcomes', async (t) => {
  const cases: [number, 'success' | 'failure' | 'unknown'][] = [
    [200, 'success'],
    [302, 'unknown'],
    [400, 'failure'],
    [401, 'failure'],
    [403, 'failure'],
    [404, 'failure'],
    [422, 'failure'],
    [419, 'unknown'],
    [429, 'unknown'],
    [500, 'unknown'],
    [502, 'unknown'],
  ];
  // Each status is the app's response to a first login. The account's second login reads its counters.
  const upstream = await scriptedUpstream(t, cases.flatMap(([status]) => [status, 200]));
  const gateway = await gatewayFor(t, upstream.url);

  for (const [index, [status]] of cases.entries()) {
    // One account and one address per status, so no case trips another's rate rules.
    const source = `127.0.0.${20 + index}`;
    const reply = await login(gateway.port, `user${status}`, 'whatever', { source });
    t.equal(reply.status, status, `the app's ${status} comes back`);
    await login(gateway.port, `user${status}`, 'whatever', { source });
  }

  const lines = await waitForDecisions(gateway.logs, cases.length * 2);
  for (const [index, [status, outcome]] of cases.entries()) {
    t.equal(lines[index * 2].event.outcome, outcome, `${status} is a ${outcome}`);
    t.equal(lines[index * 2].riskgate.outcome_reason, status === 302 ? 'status_not_listed' : undefined,
      `${status}: outcome reason`);
    t.equal(lines[index * 2 + 1].riskgate.counters.failures_per_account, outcome === 'failure' ? 1 : 0,
      `${status} ${outcome === 'failure' ? 'raises' : 'leaves'} the account failure count`);
    t.equal(lines[index * 2 + 1].riskgate.counters.attempts_per_ip, 1, `${status} counts as an attempt`);
  }
});

t.test('json 422 counts as failure', async (t) => {
  // Laravel rejects a failed login that asked for JSON with 422 and a validation error.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const accepted = request.body.includes('"password":"wonderland"');
    response.writeHead(accepted ? 200 : 422, { 'content-type': 'application/json' });
    response.end(accepted ? '{"ok":true}' : '{"message":"These credentials do not match our records."}');
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);

  const replies = [];
  for (let index = 0; index < 3; index += 1) {
    replies.push(await login(gateway.port, 'alice', `guess${index}`, { headers: { accept: 'application/json' } }));
  }
  await login(gateway.port, 'alice', 'guess3', { headers: { accept: 'application/json' } });

  const lines = await waitForDecisions(gateway.logs, 4);
  t.same(replies.map((reply) => reply.status), [422, 422, 422], "the app's 422s come back");
  t.same(lines.slice(0, 3).map((line) => line.event.outcome), ['failure', 'failure', 'failure']);
  t.equal(lines[3].riskgate.counters.failures_per_account, 3, 'each 422 raised the account failure count');
  t.equal(lines[3].riskgate.counters.failures_per_account_ip, 3, 'and the account-address count');
});

t.test('route failure_status decides what fails', async (t) => {
  const upstream = await scriptedUpstream(t, [400, 401]);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ id: 'token', path: '/login', failure_status: ['400'] }] },
  });

  await login(gateway.port, 'alice', 'x');
  await login(gateway.port, 'alice', 'x');
  await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 3);
  t.same(lines.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 1], 'the 400 counts, the 401 does not');
  t.equal(lines[0].riskgate.route, 'token');
});

/** Start a form-login app: a success redirects to /home, a failure to the login page. */
async function formLoginUpstream(t: Tap) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const accepted = request.body.includes('"password":"wonderland"');
    response.writeHead(302, { location: accepted ? '/home' : 'https://app.example/LOGIN/?error' });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

t.test('redirect to a failure location fails', async (t) => {
  const upstream = await formLoginUpstream(t);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', success_location: ['/home'], failure_location: ['/login'] }] },
  });

  const replies = [];
  for (const password of ['x', 'y', 'z', 'wonderland']) replies.push(await login(gateway.port, 'alice', password));

  const lines = await waitForDecisions(gateway.logs, 4);
  t.same(replies.map((reply) => reply.status), [302, 302, 302, 302], "the app's redirects come back");
  t.same(lines.map((line) => line.event.outcome), ['failure', 'failure', 'failure', 'success']);
  t.same(lines.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3], 'each redirect to the login page counts');
  t.same(replies.map((reply) => reply.headers['set-cookie'] !== undefined), [false, false, false, true], 'only the success gets a device cookie');
});

t.test('unlisted redirect is unknown', async (t) => {
  const upstream = await formLoginUpstream(t);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', success_status: ['2xx', '3xx'], failure_location: ['/login'] }] },
  });

  const failed = await login(gateway.port, 'alice', 'x');
  const passed = await login(gateway.port, 'alice', 'wonderland');

  const lines = await waitForDecisions(gateway.logs, 2);
  t.equal(lines[0].event.outcome, 'failure');
  t.equal(lines[1].event.outcome, 'unknown', 'a route with locations counts only the listed ones');
  t.equal(lines[1].riskgate.outcome_reason, 'location_not_listed', 'the line says why');
  t.equal(lines[1].riskgate.learned, false);
  t.equal(lines[0].riskgate.outcome_reason, undefined, 'a classified redirect has no reason');
  t.equal(failed.headers['set-cookie'], undefined);
  t.equal(passed.headers['set-cookie'], undefined, 'an unknown outcome earns no device cookie');
});

/**
 * Start an app that redirects a failed login back to the page the client came from, as
 * Laravel's back() and Express 4's res.redirect('back') do. Like Express, it reads
 * `Referrer` or `Referer`, the last one sent, and falls back to `/`.
 */
async function redirectBackUpstream(t: Tap) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const referers: string[] = [];
    for (let index = 0; index < request.rawHeaders.length; index += 2) {
      if (/^referr?er$/i.test(request.rawHeaders[index])) referers.push(request.rawHeaders[index + 1]);
    }
    const accepted = request.body.includes('"password":"wonderland"');
    response.writeHead(302, { location: accepted ? '/home' : (referers.at(-1) ?? '/') });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

// Referer headers that steer where a redirect-back app sends a wrong password, and the
// reason the decision line gives for the unknown outcome.
const STEERED: [string, string[], string][] = [
  ['Referer', ['Referer', '/dashboard'], 'referer_not_url'],
  ['Referrer spelling', ['Referrer', '/dashboard'], 'referer_not_url'],
  ['absolute Referer', ['Referer', 'https://app.example/Dashboard/?tab=1'], 'redirect_to_referer'],
  ['second Referer', ['Referer', '/settings', 'Referer', '/dashboard'], 'referer_repeated'],
  ['Referer of the login page', ['Referer', '/login'], 'referer_not_url'],
];

for (const [config, label] of [
  [{ success_location: ['/home', '/dashboard'] }, 'success_location'],
  [{ success_status: ['2xx', '3xx'] }, 'success_status 3xx'],
] as const) {
  t.test(`redirect back to referer is no success (${label})`, async (t) => {
    const upstream = await redirectBackUpstream(t);
    const gateway = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/login', ...config }] } });

    for (const [name, rawHeaders] of STEERED) {
      const headers: Record<string, string[]> = {};
      for (let index = 0; index < rawHeaders.length; index += 2) {
        (headers[rawHeaders[index]] ??= []).push(rawHeaders[index + 1]);
      }
      const reply = await send(gateway.port, {
        method: 'POST',
        path: '/login',
        headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ username: 'alice', password: 'guess' }),
      });
      t.equal(reply.status, 302, `${name}: the app redirects back`);
      t.equal(reply.headers['set-cookie'], undefined, `${name}: no device cookie`);
    }
    // Browsers send an absolute Referer, and a relative one would make every redirect unknown.
    const owner = await login(gateway.port, 'alice', 'wonderland', { headers: { referer: 'https://app.example/login' } });

    const lines = await waitForDecisions(gateway.logs, STEERED.length + 1);
    for (const [index, [name, , reason]] of STEERED.entries()) {
      t.equal(lines[index].event.outcome, 'unknown', `${name}: the outcome is unknown`);
      t.equal(lines[index].riskgate.outcome_reason, reason, `${name}: the line says ${reason}`);
    }
    const ownerLine = lines[STEERED.length];
    t.equal(ownerLine.event.outcome, 'success', "the owner's redirect to /home is a success");
    t.equal(ownerLine.riskgate.learned, true, 'and says it taught the profile');
    t.ok(owner.headers['set-cookie']?.some((value) => value.startsWith('__Host-rg_device=')), 'and earns a device cookie');
    t.equal(ownerLine.riskgate.signals.account.first_login, true, 'the steered guesses taught the profile nothing');
    t.equal(ownerLine.riskgate.counters.attempts_per_ip, STEERED.length, 'each steered guess counted as an attempt');
  });
}

/** Send a wrong password for alice with `headers` on top of a browser's. */
function guess(port: number, path: string, headers: Record<string, string | string[]>) {
  return send(port, {
    method: 'POST',
    path,
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username: 'alice', password: 'guess' }),
  });
}

/**
 * Start an app that redirects a failed login as Express 4's res.redirect('back') does: to
 * `req.headers.referrer || req.headers.referer || '/'`, percent-encoded. Node joins repeated
 * Referrer headers into one value with ", ".
 */
async function expressBackUpstream(t: Tap) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.method !== 'POST') return false;
    const accepted = request.body.includes('"password":"wonderland"');
    const back = request.headers.referrer ?? request.headers.referer ?? '/';
    response.writeHead(302, { location: accepted ? '/home' : encodeURI(String(back)) });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

/**
 * Start an app that redirects a failed login as Laravel's back() does: a Referer that starts
 * like a URL is kept, and any other is made absolute as the site root, "/", and the value
 * with its outer slashes trimmed.
 */
async function laravelBackUpstream(t: Tap) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.method !== 'POST') return false;
    const accepted = request.body.includes('"password":"wonderland"');
    const referer = request.headers.referer;
    let back = 'http://app.example/';
    if (referer !== undefined) {
      back = /^(#|\/\/|https?:\/\/|mailto:|tel:|sms:)/i.test(referer)
        ? referer
        : `http://app.example/${referer.replace(/^\/+|\/+$/g, '')}`;
    }
    response.writeHead(302, { location: accepted ? 'http://app.example/home' : back });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

/** Check that each guess was unknown, earned no cookie and taught nothing, then that the owner's login succeeds. */
async function checkNoSuccess(t: Tap, gateway: TestGateway, path: string, replies: Reply[], reasons?: string[]) {
  const owner = await send(gateway.port, {
    method: 'POST',
    path,
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', referer: `http://app.example${path}` },
    body: JSON.stringify({ username: 'alice', password: 'wonderland' }),
  });

  const lines = await waitForDecisions(gateway.logs, replies.length + 1);
  for (const [index, reply] of replies.entries()) {
    t.equal(lines[index].event.outcome, 'unknown', `guess ${index + 1} is unknown`);
    t.equal(reply.headers['set-cookie'], undefined, `guess ${index + 1} earns no device cookie`);
    t.equal(lines[index].riskgate.learned, false, `guess ${index + 1} is logged as teaching nothing`);
    if (reasons) t.equal(lines[index].riskgate.outcome_reason, reasons[index], `guess ${index + 1} is logged as ${reasons[index]}`);
  }
  const ownerLine = lines[replies.length];
  t.equal(ownerLine.riskgate.learned, true, "the owner's success is logged as teaching the profile");
  t.equal(ownerLine.event.outcome, 'success', "the owner's redirect to /home is a success");
  t.ok(owner.headers['set-cookie']?.some((value) => value.startsWith('__Host-rg_device=')), 'and earns a device cookie');
  t.equal(ownerLine.riskgate.signals.account.first_login, true, 'the guesses taught the profile nothing');
}

t.test('joined Referrer headers are no success', async (t) => {
  // Express redirects to /home/x;,%20/.., which resolves to /home.
  const upstream = await expressBackUpstream(t);
  const gateway = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/login', success_location: ['/home'] }] } });

  const replies = [];
  for (const referrer of [['/home/x;', '/..'], ['http://app.example/home/x;', '/..']]) {
    replies.push(await guess(gateway.port, '/login', { referrer }));
  }
  // One header of each spelling counts as two Referers too.
  replies.push(await guess(gateway.port, '/login', { referer: 'http://app.example/other', referrer: 'http://app.example/home' }));
  t.equal(replies[0].headers.location, '/home/x;,%20/..', 'the app redirects to the joined value');

  await checkNoSuccess(t, gateway, '/login', replies, ['referer_repeated', 'referer_repeated', 'referer_repeated']);
});

t.test('relative Referer on a nested login is no success', async (t) => {
  // Laravel redirects a Referer of "home" to http://app.example/home, not to /auth/home.
  const upstream = await laravelBackUpstream(t);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/auth/login', success_location: ['/home'], failure_location: ['/auth/login'] }] },
  });

  const replies = [];
  for (const referer of ['home', 'home/', './home', 'x/../home']) replies.push(await guess(gateway.port, '/auth/login', { referer }));
  t.equal(replies[0].headers.location, 'http://app.example/home', 'the app redirects to /home');

  await checkNoSuccess(t, gateway, '/auth/login', replies);
});

for (const [config, label] of [
  [{ success_location: ['/home'], failure_location: ['/login'] }, 'locations'],
  [{ success_status: ['2xx', '3xx'] }, 'success_status 3xx'],
] as const) {
  t.test(`backslash Referer is no success (${label})`, async (t) => {
    // Laravel redirects a Referer of "/\\home" to http://app.example/\\home, whose path URL parsers
    // read as //home, while they read the Referer itself as the host "home" with the path "/".
    const upstream = await laravelBackUpstream(t);
    const gateway = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/login', ...config }] } });

    const replies = [];
    for (const referer of ['/\\home', '\\home', 'http://app.example\\home', 'http://user@app.example/home', 'ftp://app.example/home']) {
      replies.push(await guess(gateway.port, '/login', { referer }));
    }
    // Dot segments make a path unreadable, because apps resolve them differently.
    replies.push(await guess(gateway.port, '/login', { referer: 'http://app.example/x/../home' }));
    t.equal(replies[0].headers.location, 'http://app.example/\\home', 'the app redirects to /\\home');

    await checkNoSuccess(t, gateway, '/login', replies, [...Array(5).fill('referer_not_url'), 'referer_path_unreadable']);
  });
}

t.test('login without Referer succeeds by redirect', async (t) => {
  const upstream = await laravelBackUpstream(t);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', success_location: ['/home'], failure_location: ['/login'] }] },
  });

  const reply = await login(gateway.port, 'alice', 'wonderland');

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.event.outcome, 'success');
  t.ok(reply.headers['set-cookie']?.some((value) => value.startsWith('__Host-rg_device=')), 'it earns a device cookie');
});

/** Start a form-login app that redirects a success to /home and re-renders the form with 200 after a failure. */
async function formRenderUpstream(t: Tap) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    if (request.body.includes('"password":"wonderland"')) {
      response.writeHead(302, { location: '/home' });
      response.end();
    } else {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<form method="post">Invalid username or password</form>');
    }
    return true;
  };
  t.teardown(() => upstream.stop());
  return upstream;
}

const FAILURE_STATUS_WITH_200 = ['200', '4xx', '!405', '!408', '!413', '!414', '!415', '!419', '!429', '!431'];

for (const [statuses, label] of [
  [{ success_status: ['3xx'], failure_status: FAILURE_STATUS_WITH_200 }, 'success_status 3xx'],
  [{ failure_status: FAILURE_STATUS_WITH_200 }, 'default success_status'],
] as const) {
  t.test(`form re-rendered with 200 is a failure (${label})`, async (t) => {
    const upstream = await formRenderUpstream(t);
    const gateway = await gatewayFor(t, upstream.url, {
      config: { login_routes: [{ path: '/login', success_location: ['/home'], ...statuses }] },
    });

    const failed = await login(gateway.port, 'alice', 'guess');
    const passed = await login(gateway.port, 'alice', 'wonderland');

    const lines = await waitForDecisions(gateway.logs, 2);
    t.equal(failed.status, 200, "the app's form comes back");
    t.equal(lines[0].event.outcome, 'failure', 'the 200 is a failure');
    t.equal(failed.headers['set-cookie'], undefined, 'and earns no device cookie');
    t.equal(lines[1].riskgate.counters.failures_per_account, 1, 'it raised the account failure count');
    t.equal(lines[1].event.outcome, 'success', 'the redirect to /home is a success');
  });
}

t.test('redirect to the login page is no success', async (t) => {
  const upstream = await scriptedUpstream(t, []);
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(303, { location: '/Login?error=1' });
    response.end();
    return true;
  };
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', success_status: ['2xx', '3xx'] }] },
  });

  const reply = await login(gateway.port, 'alice', 'x');

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(reply.status, 303);
  t.equal(line.event.outcome, 'unknown');
  t.equal(line.riskgate.outcome_reason, 'redirect_to_login');
  t.equal(reply.headers['set-cookie'], undefined);
});

t.test('guesses the app hides as unknown still challenge', async (t) => {
  // Devise returns 401 to a JSON client, but redirects one that asks for HTML back to its form,
  // which riskgate cannot read as a failure on a route with the default lists.
  const upstream = await scriptedUpstream(t, []);
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const html = String(request.headers.accept ?? '').includes('text/html');
    response.writeHead(html ? 302 : 401, html ? { location: '/login' } : { 'content-type': 'application/json' });
    response.end();
    return true;
  };
  const gateway = await gatewayFor(t, upstream.url);
  const headers = { accept: 'text/html' };

  for (let index = 0; index < 11; index += 1) await login(gateway.port, 'alice', `guess-${index}`, { headers });

  const lines = await waitForDecisions(gateway.logs, 11);
  t.same(new Set(lines.slice(0, 10).map((line) => line.event.outcome)), new Set(['unknown']), 'the app hid every failure');
  t.equal(lines[10].riskgate.counters.unsuccessful_per_account, 10);
  t.equal(lines[10].riskgate.decision, 'challenge', 'the eleventh guess is challenged');
  t.ok(lines[10].riskgate.rules.includes('bruteforce.account-unsuccessful'));
  t.equal(upstream.logins.length, 10, 'it never reached the app');
});

t.test('hidden guesses in other readings still challenge', async (t) => {
  // A form-login app re-renders its form with 200 after a wrong password. Each spelling below
  // still reaches its password check: an empty second copy, an unused grant_type, a trailing
  // slash its router ignores, a routing parameter it does not use, and a password in the query.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.toLowerCase().startsWith('/login')) return false;
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<form method="post">Invalid username or password</form>');
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);
  const spellings = [
    { user: 'dave', path: '/login', fields: '&password=guess&Password=', reason: 'password_ambiguous' },
    { user: 'erin', path: '/login?grant_type=x', fields: '&password=guess', reason: 'password_ambiguous' },
    { user: 'fay', path: '/login/', fields: '&password=guess', reason: 'path_variant' },
    { user: 'gus', path: '/login?r=site/index', fields: '&password=guess', reason: 'path_variant' },
    // PHP's $_REQUEST and Spring's getParameter read a password from the query of a POST too.
    { user: 'ivy', path: '/login?password=guess', fields: '', reason: 'password_ambiguous' },
    // ASP.NET Core binds form fields and Go's decoder reads JSON keys whatever their case.
    { user: 'jay', path: '/login', fields: '&PASSWORD=guess', reason: 'password_ambiguous' },
    { user: 'kim', path: '/login', json: '{"username":"kim","Password":"guess"}', reason: 'password_ambiguous' },
    // PHP's password_verify reads a JSON number as its digits.
    { user: 'lee', path: '/login', json: '{"username":"lee","password":1234}', reason: 'password_ambiguous' },
    // fastjson fills a property from a key with `_` or `-` in it.
    { user: 'max', path: '/login', json: '{"username":"max","pass_word":"guess"}', reason: 'password_ambiguous' },
  ];
  let source = 10;

  for (const { user, path, fields, json, reason } of spellings) {
    const before = gateway.logs.decisions.length;
    for (let index = 0; index < 11; index += 1) {
      await send(gateway.port, {
        method: 'POST',
        path,
        source: `127.0.2.${(source += 1)}`,
        headers: { ...BROWSER_HEADERS, 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: json ?? `username=${user}${fields}`,
      });
    }
    const lines = (await waitForDecisions(gateway.logs, before + 11)).slice(before);
    t.equal(lines[0].riskgate.outcome_reason, reason, `${user}: the app's page counts as unknown (${reason})`);
    t.equal(lines[10].riskgate.counters.unsuccessful_per_account, 10, `${user}: ten hidden guesses counted`);
    t.equal(lines[10].riskgate.decision, 'challenge', `${user}: the eleventh guess is challenged`);
  }

  // The username step of an identifier-first login fills no password, so it counts for nothing.
  const before = gateway.logs.decisions.length;
  for (let index = 0; index < 11; index += 1) {
    await send(gateway.port, {
      method: 'POST',
      path: '/login',
      source: `127.0.2.${(source += 1)}`,
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=hana&password=',
    });
  }
  const steps = (await waitForDecisions(gateway.logs, before + 11)).slice(before);
  t.equal(steps[10].riskgate.outcome_reason, 'no_password');
  t.equal(steps[10].riskgate.counters.unsuccessful_per_account, 0, 'username steps are not counted');
  t.equal(steps[10].riskgate.decision, 'allow');
});

t.test('locations that differ by a number stay apart', async (t) => {
  // riskgate reads /api/x2/login as the API version v2, but a page the app redirects to is
  // compared as written, so /error2 is not the success page /step2.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const right = JSON.parse(request.body.toString('utf8')).password === 'wonderland';
    response.writeHead(302, { location: right ? '/step2' : '/error2' });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/login', success_location: ['/step2'] }] } });

  await login(gateway.port, 'alice', 'guess');
  await login(gateway.port, 'alice', 'wonderland');

  const lines = await waitForDecisions(gateway.logs, 2);
  t.equal(lines[0].event.outcome, 'unknown', 'the redirect to /error2 is no success');
  t.equal(lines[0].riskgate.outcome_reason, 'location_not_listed');
  t.equal(lines[1].event.outcome, 'success', 'the redirect to /step2 is one');
});

t.test('success clears the account-address streak', async (t) => {
  const upstream = await scriptedUpstream(t, [401, 401, 401, 200]);
  const gateway = await gatewayFor(t, upstream.url);

  for (let index = 0; index < 5; index += 1) await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 5);
  t.equal(lines[3].riskgate.counters.failures_per_account_ip, 3, 'three failures from this address');
  t.equal(lines[4].riskgate.counters.failures_per_account_ip, 0, 'cleared by the success');
  t.equal(lines[4].riskgate.counters.failures_per_account, 3, 'the account-wide count stays');
});

t.test('look-alike success keeps the account-address streak', async (t) => {
  // The app keeps álice apart from alice, and the attacker owns álice.
  const upstream = await scriptedUpstream(t, [401, 401, 401, 200, 401, 200]);
  const gateway = await gatewayFor(t, upstream.url);

  for (let index = 0; index < 3; index += 1) await login(gateway.port, 'alice', 'x');
  await login(gateway.port, '\u00e1lice', 'own-password');
  await login(gateway.port, 'alice', 'x');
  await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 7);
  t.equal(lines[3].event.outcome, 'success', "the look-alike's own login succeeds");
  t.equal(lines[4].riskgate.counters.failures_per_account_ip, 3, 'and leaves the streak of guesses at alice');
  t.equal(lines[5].riskgate.counters.failures_per_account_ip, 4, 'which the next guess extends');
  t.equal(lines[6].riskgate.counters.failures_per_account_ip, 0, "alice's own success clears it");
});

t.test('a 2xx to a login without a password teaches nothing', async (t) => {
  // A password reset request below the login path, and the username step of an
  // identifier-first login, respond with 200 for any username.
  const upstream = await scriptedUpstream(t, [401, 401, 401, 200, 200, 200]);
  const gateway = await gatewayFor(t, upstream.url);
  const post = (path: string, body: string) => send(gateway.port, {
    method: 'POST', path, body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' } });

  for (let index = 0; index < 3; index += 1) await login(gateway.port, 'alice', 'x');
  const replies = [
    await post('/login/forgot', '{"username":"alice"}'),
    await post('/login', '{"username":"alice","password":""}'),
    await post('/login', '{"username":"alice","password":null}'),
  ];
  await login(gateway.port, 'alice', 'x');

  const lines = await waitForDecisions(gateway.logs, 7);
  for (const [index, reply] of replies.entries()) {
    const line = lines[3 + index];
    t.equal(reply.status, 200, `login ${index + 1}: the app's 200 comes back`);
    t.equal(reply.headers['set-cookie'], undefined, `login ${index + 1}: no device cookie`);
    t.equal(line.event.outcome, 'unknown', `login ${index + 1}: no success`);
    t.equal(line.riskgate.outcome_reason, 'no_password', `login ${index + 1}: the reason is logged`);
    t.equal(line.riskgate.learned, false, `login ${index + 1}: nothing learned`);
  }
  t.equal(lines[6].riskgate.counters.failures_per_account_ip, 3, 'the account-address streak stays');
});

t.test('a form password that some parser reads as empty earns no success', async (t) => {
  // An identifier-first app takes its username step, with 200, when it reads no password.
  // PHP keeps the last copy of a field, cuts a name at NUL, and keeps a leading "?" or byte
  // order mark. Go drops a field that contains ";" or a bad escape, and its JSON decoder fills
  // a field from a key in another case.
  const FORM = 'application/x-www-form-urlencoded';
  // Where some parser still reads the password, the reason is password_ambiguous.
  const bodies: [string, string, string][] = [
    // URLSearchParams (undici) drops the "?" and iconv-lite (Express) the mark, so both send one.
    ['?password=guess&username=alice', FORM, 'password_ambiguous'],
    ['username=alice&password=guess&password=', FORM, 'password_ambiguous'],
    ['username=alice&password=guess&password%00=', FORM, 'password_ambiguous'],
    ['username=alice&password=guess;password=', FORM, 'password_ambiguous'],
    ['username=alice&password=guess&Password=', FORM, 'password_ambiguous'],
    ['\ufeffpassword=guess&username=alice', FORM, 'password_ambiguous'],
    ['password=guess;y&username=alice', FORM, 'password_ambiguous'],
    ['password=%zz&username=alice', FORM, 'no_password'],
    ['{"username":"alice","password":"guess","PASSWORD":""}', 'application/json', 'password_ambiguous'],
    ['{"username":"alice","password":"guess","pass-word":""}', 'application/json', 'password_ambiguous'],
    ['{"username":"alice","isPassword":"","password":"guess"}', 'application/json', 'password_ambiguous'],
    // PHP's trim removes NUL, so an app that trims reads no password here.
    ['username=erin&password=%00', FORM, 'password_ambiguous'],
    // ASP.NET trims field names, so it checks this password.
    ['username=carol&password%20=guess', FORM, 'password_ambiguous'],
    ['username=dave&password%C2%85=guess', FORM, 'password_ambiguous'],
    ['{"username":"frank","password":" \\u0000 "}', 'application/json', 'password_ambiguous'],
  ];
  const upstream = await scriptedUpstream(t, Array(bodies.length + 1).fill(200));
  const gateway = await gatewayFor(t, upstream.url);

  for (const [body, type] of bodies) {
    const reply = await send(gateway.port, { method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': type } });
    t.equal(reply.headers['set-cookie'], undefined, `${body}: no device cookie`);
  }
  // Another account from another address: the unsuccessful logins above have brought alice
  // to her challenge, and their address past its distinct usernames.
  await send(gateway.port, {
    method: 'POST', path: '/login', body: 'username=bob&password=builder', source: '127.0.0.77',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' } });

  const lines = await waitForDecisions(gateway.logs, bodies.length + 1);
  bodies.forEach(([body, , reason], index) => {
    t.equal(lines[index].event.outcome, 'unknown', `${body}: no success`);
    t.equal(lines[index].riskgate.outcome_reason, reason, `${body}: the reason is logged`);
  });
  t.equal(lines[bodies.length].event.outcome, 'success', 'a plain form login still succeeds');
});

t.test('a 2xx at another reading of the login path is no success', async (t) => {
  // The app checks passwords at /login alone and serves a 200 page at every other path,
  // as a single-page app's catch-all does for any method.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.url === '/login') return false;
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<html>page</html>');
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);
  // Front controllers run the route a routing parameter names, even at the login's own path.
  const variants = ['/login/', '/LOGIN', '/login.json', '/login;x', '/login/x', '/?q=login', '/index.php/login',
    '/login?q=node', '/login?r=site/index', '/login?route=common/home', '/login?_url=/home', '/login?s=index', '/login?q=',
    '/login?/node', '/login?rest.route=/wp/v2/posts', '/login?x=1;q=node'];
  const forms = ['username=carol&password=not-his&rest_route=/x', 'username=carol&password=not-his&r=site/index'];

  // Two accounts share the unknown outcomes, so neither reaches the ten that challenge.
  for (const [index, path] of variants.entries()) {
    const body = JSON.stringify({ username: index < 9 ? 'bob' : 'carol', password: 'not-his' });
    const reply = await send(gateway.port, {
      method: 'POST', path, body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' } });
    t.equal(reply.headers['set-cookie'], undefined, `${path}: no device cookie`);
  }
  // WordPress and Yii 1.1 route by these form fields too; the mock app serves its page for them.
  upstream.responder = (request, response) => {
    if (request.url.split('?')[0] === '/login' && !/rest_route|&r=/.test(request.body.toString())) return false;
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<html>page</html>');
    return true;
  };
  for (const body of forms) {
    const reply = await send(gateway.port, {
      method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(reply.headers['set-cookie'], undefined, `${body}: no device cookie`);
  }
  variants.push(...forms.map((body) => `/login with ${body}`));
  const exact = await login(gateway.port, 'bob', 'wonderland', { path: '/login?next=%2Fhome' });

  const lines = await waitForDecisions(gateway.logs, variants.length + 1);
  variants.forEach((path, index) => {
    t.equal(lines[index].event.outcome, 'unknown', `${path}: no success`);
    t.equal(lines[index].riskgate.outcome_reason, 'path_variant', `${path}: the reason is logged`);
    t.equal(lines[index].riskgate.learned, false, `${path}: nothing learned`);
  });
  t.equal(exact.status, 200);
  t.equal(lines[variants.length].event.outcome, 'success', 'the route path with a query succeeds');
  t.ok(exact.headers['set-cookie'], 'and earns a device cookie');
  const warnings = gateway.logs.lines.filter((line) => /at a path other than \/login/.test(String(line.message)));
  t.equal(warnings.length, 1, 'the route is named once in a warn line');
});

t.test("only the route's password field makes a success", async (t) => {
  const upstream = await scriptedUpstream(t, Array(24).fill(200));
  // Many of these logins send a password some parser reads, which the unsuccessful counter
  // counts, so rules run in monitor mode to let every one reach the app.
  const gateway = await gatewayFor(t, upstream.url, { config: { mode: 'monitor' } });
  const bodies: [string, string, 'success' | 'unknown'][] = [
    ['application/json', '{"username":"alice","password":"wonderland"}', 'success'],
    ['application/x-www-form-urlencoded', 'username=alice&password=wonderland&grant_type=password', 'success'],
    // An identifier-first app returns 200 for its username step when it reads no password
    // field, so only the field as the app reads it counts: exact name, top level, a string.
    ['application/json', '{"username":"alice","Password":"x"}', 'unknown'],
    ['application/json', '{"username":"alice","user":{"password":"x"}}', 'unknown'],
    ['application/json', '{"username":"alice","password":12345}', 'unknown'],
    ['application/json', '{"username":"alice","password":" "}', 'unknown'],
    ['application/json', '{"username":"alice","password":"\\u200b"}', 'unknown'],
    ['application/x-www-form-urlencoded', 'username=alice&PASSWORD=x', 'unknown'],
    ['application/x-www-form-urlencoded', 'username=alice&user%5Bpassword%5D=x', 'unknown'],
    // Fields the app ignores, added so that a request that checks no password looks like a login.
    ['application/json', '{"username":"alice","step":"identify","passphrase":"x"}', 'unknown'],
    ['application/x-www-form-urlencoded', 'username=alice&pwd=x', 'unknown'],
    ['application/x-www-form-urlencoded', 'username=alice&post_password=x', 'unknown'],
    // An OAuth refresh grant ignores the password, so one sent along proves nothing.
    ['application/x-www-form-urlencoded', 'grant_type=refresh_token&refresh_token=own&username=alice&password=x', 'unknown'],
    ['application/json', '{"grant_type":"client_credentials","username":"alice","password":"x"}', 'unknown'],
    // PHP reads `grant.type` and ` grant_type` as grant_type, and case-insensitive binders `Grant_Type`.
    ['application/x-www-form-urlencoded', 'grant.type=refresh_token&username=alice&password=x', 'unknown'],
    ['application/x-www-form-urlencoded', '+grant_type=refresh_token&username=alice&password=x', 'unknown'],
    ['application/x-www-form-urlencoded', 'GRANT_TYPE=refresh_token&username=alice&password=x', 'unknown'],
    ['application/x-www-form-urlencoded', '%5Bgrant_type%5D=client_credentials&username=alice&password=x', 'unknown'],
    // PHP, Rails and Django read the last of two values, and Authlib the query before the body.
    ['application/x-www-form-urlencoded', 'grant_type=password&username=alice&password=x&grant_type=refresh_token', 'unknown'],
    ['application/json', '{"Grant_Type":"client_credentials","username":"alice","password":"x"}', 'unknown'],
  ];

  for (const [type, body] of bodies) {
    await send(gateway.port, { method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': type } });
  }

  const lines = await waitForDecisions(gateway.logs, bodies.length);
  bodies.forEach(([, body, outcome], index) => t.equal(lines[index].event.outcome, outcome, `${body}: ${outcome}`));
});

t.test('a nested password field counts when the route names it', async (t) => {
  const upstream = await scriptedUpstream(t, Array(6).fill(200));
  const gateway = await gatewayFor(t, upstream.url, {
    config: {
      login_routes: [
        { id: 'rails', path: '/login', body: 'form', username_field: 'user[email]', password_field: 'user[password]' },
        { id: 'api', path: '/login/api', body: 'json', password_field: 'user.password' },
      ],
    },
  });
  const cases: [string, string, string, 'success' | 'unknown'][] = [
    ['/login', 'application/x-www-form-urlencoded', 'user%5Bemail%5D=alice&user%5Bpassword%5D=wonderland', 'success'],
    ['/login', 'application/x-www-form-urlencoded', 'user%5Bemail%5D=alice&password=wonderland', 'unknown'],
    ['/login/api', 'application/json', '{"username":"alice","user":{"password":"wonderland"}}', 'success'],
    ['/login/api', 'application/json', '{"username":"alice","password":"wonderland"}', 'unknown'],
    // Most apps read no password from the query of a POST.
    ['/login/api?password=wonderland', 'application/json', '{"username":"alice"}', 'unknown'],
  ];
  for (const [path, type, body] of cases) {
    await send(gateway.port, { method: 'POST', path, body, headers: { ...BROWSER_HEADERS, 'content-type': type } });
  }
  const lines = await waitForDecisions(gateway.logs, cases.length);
  cases.forEach(([path, , body, outcome], index) => t.equal(lines[index].event.outcome, outcome, `${path} ${body}: ${outcome}`));
});

t.test('success_fields keeps other actions of a login path from succeeding', async (t) => {
  // wp-login.php runs the action its `action` field names; postpass redirects to a page
  // the client names in `_wp_http_referer`, whatever the password.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/wp-login.php')) return false;
    response.writeHead(302, { location: '/wp-admin/' });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, {
    config: {
      login_routes: [{
        path: '/wp-login.php',
        username_field: 'log',
        password_field: 'pwd',
        success_location: ['/wp-admin'],
        success_status: ['3xx'],
        success_fields: { action: ['', 'login'] },
      }],
    },
  });
  const post = (path: string, body: string) => send(gateway.port, {
    method: 'POST', path, body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' } });

  const attempts: [string, string, 'success' | 'unknown'][] = [
    ['/wp-login.php?action=postpass', 'log=bob&pwd=x&post_password=x&_wp_http_referer=%2Fwp-admin%2F', 'unknown'],
    ['/wp-login.php', 'log=bob&pwd=x&action=postpass', 'unknown'],
    // PHP drops a leading space and reads `action[]` as an array under action.
    ['/wp-login.php', 'log=bob&pwd=x&+action=postpass', 'unknown'],
    ['/wp-login.php', 'log=bob&pwd=x&%20action=postpass', 'unknown'],
    ['/wp-login.php', 'log=bob&pwd=x&action%5B%5D=postpass', 'unknown'],
    // qs, behind Express's extended form parser, reads `[action]` as action; PHP cuts a name at NUL.
    ['/wp-login.php', 'log=bob&pwd=x&%5Baction%5D=postpass', 'unknown'],
    ['/wp-login.php', 'log=bob&pwd=x&action%00x=postpass', 'unknown'],
    ['/wp-login.php?ACTION=postpass', 'log=bob&pwd=x', 'unknown'],
    // Hosts with arg_separator.input ";&" split the query and the form at ";" too.
    ['/wp-login.php?x=1;action=postpass', 'log=bob&pwd=x', 'unknown'],
    ['/wp-login.php', 'log=bob&x=1;action=postpass&pwd=x', 'unknown'],
    // Ten guesses with an unlisted action put bob under challenge, so carl logs in.
    ['/wp-login.php', 'log=carl&pwd=builder', 'success'],
    ['/wp-login.php?action=login', 'log=carl&pwd=builder', 'success'],
  ];
  for (const [path, body] of attempts) await post(path, body);

  const lines = await waitForDecisions(gateway.logs, attempts.length);
  attempts.forEach(([path, body, outcome], index) => {
    t.equal(lines[index].event.outcome, outcome, `${path} ${body}: ${outcome}`);
    if (outcome === 'unknown') t.equal(lines[index].riskgate.outcome_reason, 'field_not_listed', `${path} ${body}: the reason`);
  });

  // PHP's $_REQUEST, with no request_order set, lets a cookie override the form's action, so
  // a cookie with an unlisted value never reaches the app, and a listed one does.
  const cookies: [string, string | undefined][] = [
    ['action=postpass; wp_lang=en', 'wp_lang=en'],
    ['+action=postpass', undefined],
    ['grant_type=client_credentials; wp_lang=en', 'wp_lang=en'],
    ['action=login; wp_lang=en', 'action=login; wp_lang=en'],
  ];
  for (const [cookie, forwarded] of cookies) {
    const before = upstream.requests.length;
    await send(gateway.port, { method: 'POST', path: '/wp-login.php', body: 'log=carl&pwd=builder',
      headers: { ...BROWSER_HEADERS, cookie, 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(upstream.requests[before]?.headers.cookie, forwarded, `cookie ${cookie}: forwarded as ${forwarded}`);
  }
});

t.test('a login with a password but no username field is named once', async (t) => {
  const upstream = await scriptedUpstream(t, [401, 401]);
  const gateway = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/wp-login.php', password_field: 'pwd' }] } });

  for (let index = 0; index < 2; index += 1) {
    await send(gateway.port, { method: 'POST', path: '/wp-login.php', body: 'log=alice&pwd=x',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' } });
  }

  await waitForDecisions(gateway.logs, 2);
  const warnings = gateway.logs.lines.filter((line) => /has no username field "username"/.test(String(line.message)));
  t.equal(warnings.length, 1, 'one warn line names the route');
  t.match(warnings[0]?.message, /set username_field/, 'and says what to set');
});

t.test('require_password false counts a success without one', async (t) => {
  const upstream = await scriptedUpstream(t, [200]);
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', require_password: false }] },
  });

  const reply = await send(gateway.port, {
    method: 'POST', path: '/login', body: '{"username":"alice","assertion":"x"}', headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' } });

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.event.outcome, 'success');
  t.equal(line.riskgate.learned, true);
  t.match(String(reply.headers['set-cookie']), /^__Host-rg_device=/, 'the success earns a device cookie');
});

t.test('challenged and blocked logins are no failures', async (t) => {
  const upstream = await new RecordingUpstream().start();
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);

  for (let index = 0; index < 14; index += 1) await login(gateway.port, `user${index}`, 'x', { source: '127.0.0.10' });

  const lines = await waitForDecisions(gateway.logs, 14);
  t.equal(upstream.logins.length, 5, 'five logins reached the app and failed');
  t.equal(lines[13].riskgate.counters.failures_per_ip, 5, 'only those five count as failures');
  t.equal(lines[13].riskgate.counters.usernames_per_ip, 13, 'every judged username counts');
});

t.test('unreachable upstream answers 502', async (t) => {
  // A port that was just free: nothing listens there.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const gateway = await gatewayFor(t, `http://127.0.0.1:${port}`);

  const reply = await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'alice', 'wonderland');

  t.equal(reply.status, 502);
  t.equal(reply.json().title, 'upstream unavailable');
  const lines = await waitForDecisions(gateway.logs, 2);
  t.equal(lines[0].event.outcome, 'unknown');
  t.equal(lines[0].riskgate.upstream_error, 'connect');
  t.equal(lines[1].riskgate.counters.failures_per_account, 0, 'no failure counted');
  await waitFor(() => gateway.logs.lines.some((line) => line.message === 'upstream request failed'), 'the error line');
  const error = gateway.logs.lines.find((line) => line.message === 'upstream request failed')!;
  t.equal(error.log.level, 'error');
  t.match(error.err.message, /ECONNREFUSED/, 'the error line says why');
  t.equal(error.http.request.id, lines[0].http.request.id, 'and names the request');
});

t.test('hanging upstream answers 504', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, { config: { upstream_timeouts: { connect: '1s', response: '200ms' } } });

  const reply = await login(gateway.port, 'alice', 'wonderland');

  t.equal(reply.status, 504);
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.upstream_error, 'timeout');
  t.equal(line.event.outcome, 'unknown');
});

t.test('shutdown ends logins the app holds and logs them', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  t.teardown(() => upstream.stop());
  const gateway = await startTestGateway({ upstream: upstream.url, config: { upstream_timeouts: { connect: '1s', response: '5s' } } });

  const reply = login(gateway.port, 'alice', 'wonderland');
  await waitFor(() => upstream.requests.length === 1, 'the login at the app');
  await gateway.close({ abortAfterMs: 100 });

  t.equal((await reply).status, 502, 'the client gets 502');
  t.equal(gateway.logs.decisions.length, 1, 'the decision line was written before the close ended');
  t.equal(gateway.logs.decisions[0]?.riskgate.upstream_error, 'reset', 'as an upstream fault');
  t.equal(gateway.logs.decisions[0]?.event.outcome, 'unknown');
  const error = gateway.logs.lines.find((line) => line.message === 'upstream request failed');
  t.match(error?.err.message, /the gateway stopped before the application responded/, 'the error line says why');
  const warning = gateway.logs.lines.find((line) => line.message === 'shutdown ended requests still waiting for the application');
  t.equal(warning?.riskgate.requests, 1, 'one warn line counts the ended requests');
});

t.test('a redirect that no setting classifies is named once in a warn line', async (t) => {
  const upstream = await scriptedUpstream(t, [302, 302, 303]);
  const gateway = await gatewayFor(t, upstream.url);

  for (let attempt = 0; attempt < 3; attempt += 1) await login(gateway.port, 'alice', 'wonderland');

  const lines = await waitForDecisions(gateway.logs, 3);
  t.same(lines.map((line) => line.event.outcome), ['unknown', 'unknown', 'unknown'], 'redirects count as unknown by default');
  const warnings = gateway.logs.lines.filter((line) => line.log.level === 'warn' && /success_location/.test(line.message));
  t.equal(warnings.length, 1, 'one warn line per route, not one per login');
  t.match(warnings[0]?.message, /route route-1 with a redirect to \/home, which counts as neither success nor failure/);
});

/** Start an app that redirects each login to `location`, log one login, and return the gateway's log. */
async function redirectWarning(
  t: Tap,
  location: string,
  username = 'alice',
  config: Record<string, unknown> = {},
): Promise<{ warning: string | undefined; text: string }> {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(302, { location });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, { config });

  await login(gateway.port, username, 'wonderland');
  await waitForDecisions(gateway.logs, 1);
  const warning = gateway.logs.lines.find((line) => /success_location/.test(line.message ?? ''))?.message;
  return { warning, text: gateway.logs.text };
}

t.test('the unclassified redirect warning shows no session id', async (t) => {
  // Servlet URL rewriting and ASP.NET cookieless sessions put the session id in the redirect's path.
  const { warning, text } = await redirectWarning(t,
    '/(S(cookielessSECRET))/home;jsessionid=SESSIONSECRET0123456789/x/ab12cd34ef56gh78ij90');
  t.match(warning, /with a redirect to \/\*\/home\/x\/\*, which counts as neither/, 'the page is named');
  t.notMatch(text, /SECRET|ab12cd34/, 'no session id or token is logged');
});

t.test('redirect warning hides ids and addresses', async (t) => {
  // Apps redirect a login to a one-time continuation page or to the user's own page.
  const pages = ['/continue/9f86d081884c', '/profile/bob@corp.example', '/users/1234/home', '/x/caf%C3%A9'];
  for (const page of pages) {
    const { warning, text } = await redirectWarning(t, page);
    t.match(warning, /with a redirect to \/\w+\/\*(?:\/home)?, which counts as neither/, `${page}: the page is named`);
    const secret = page.split('/')[2];
    t.notOk(text.includes(secret), `${page}: ${secret} is not logged`);
  }
});

t.test('redirect warning hides tokens of letters', async (t) => {
  // A magic link or reset page may carry a token of letters alone, which no digit gives away.
  const { warning, text } = await redirectWarning(t, '/magic/xKqPzLmNvBtRwYsQaJhU/confirm');
  t.match(warning, /with a redirect to \/\*\/\*\/confirm, which counts as neither/, 'only the common words are named');
  t.notMatch(text, /xKqPzLmNvBtRwYsQaJhU/, 'the token is not logged');

  const { warning: admin } = await redirectWarning(t, '/wp-admin/index.php');
  t.match(admin, /with a redirect to \/wp-admin\/index\.php, which counts as neither/, 'a common page is named in full');
});

t.test('redirect warning hides the username', async (t) => {
  // Apps redirect a login to the user's own page, under the name as typed or as a slug.
  const pages = ['/u/johnsmith', '/u/John.Smith', '/people/john-smith', '/u/JOHN_SMITH_EXAMPLE'];
  for (const page of pages) {
    const { warning, text } = await redirectWarning(t, page, 'John.Smith@example.com');
    t.match(warning, /with a redirect to \/\w+\/\*, which counts as neither/, `${page}: the page is named without the name`);
    t.notMatch(text, /john.?smith/i, `${page}: the username is not logged`);
  }

  const { warning: plain } = await redirectWarning(t, '/u/johnsmith', 'John.Smith@example.com', { log: { username: 'plain' } });
  t.match(plain, /with a redirect to \/u\/johnsmith, which counts as neither/, 'a log that shows usernames shows it in the path');
  const { warning: other } = await redirectWarning(t, '/account/home', 'John.Smith@example.com');
  t.match(other, /with a redirect to \/account\/home, which counts as neither/, 'other pages are named');
});

t.test('a 2xx HTML page is no success by default', async (t) => {
  // WordPress, Django and ASP.NET Core Identity re-render their login form with 200 after a wrong password.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<html><form>wrong password</form></html>');
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);

  const replies = [];
  for (let attempt = 0; attempt < 2; attempt += 1) replies.push(await login(gateway.port, 'alice', 'not-hers'));
  const lines = await waitForDecisions(gateway.logs, 2);
  t.same(lines.map((line) => line.event.outcome), ['unknown', 'unknown'], 'a wrong password teaches nothing');
  t.equal(lines[0].riskgate.outcome_reason, 'html_page', 'and the reason is logged');
  t.equal(lines[0].riskgate.learned, false);
  t.equal(replies[0].headers['set-cookie'], undefined, 'no device cookie is issued');
  const warnings = gateway.logs.lines.filter((line) => /with an HTML page and status 200/.test(line.message ?? ''));
  t.equal(warnings.length, 1, 'one warn line per route');
  t.equal(warnings[0]?.log.level, 'warn');
  t.match(warnings[0]?.message, /set success_status on the route/);

  // A route that sets success_status counts a 2xx page as a success.
  const opted = await gatewayFor(t, upstream.url, { config: { login_routes: [{ path: '/login', success_status: ['2xx'] }] } });
  const reply = await login(opted.port, 'alice', 'wonderland');
  const [line] = await waitForDecisions(opted.logs, 1);
  t.equal(line.event.outcome, 'success', 'an explicit success_status counts the page');
  t.match(reply.headers['set-cookie'], /rg_device/, 'and issues the device cookie');
});

t.test('2xx XHTML page is no success', async (t) => {
  // JSF serves its re-rendered login form as XHTML to a client whose Accept header lists XHTML first.
  for (const type of ['application/xhtml+xml; charset=UTF-8', 'Application/XHTML+XML', 'application/vnd.wap.xhtml+xml']) {
    const upstream = await new RecordingUpstream().start();
    upstream.responder = (request, response) => {
      if (!request.url.startsWith('/login')) return false;
      response.writeHead(200, { 'content-type': type });
      response.end('<html xmlns="http://www.w3.org/1999/xhtml"><body><form>wrong password</form></body></html>');
      return true;
    };
    t.teardown(() => upstream.stop());
    const gateway = await gatewayFor(t, upstream.url);

    const reply = await login(gateway.port, 'alice', 'not-hers');
    const [line] = await waitForDecisions(gateway.logs, 1);
    t.equal(line.event.outcome, 'unknown', `${type}: a wrong password teaches nothing`);
    t.equal(line.riskgate.outcome_reason, 'html_page', `${type}: the reason is logged`);
    t.equal(reply.headers['set-cookie'], undefined, `${type}: no device cookie is issued`);
  }
});

t.test('a JSON success draws no HTML warning', async (t) => {
  const upstream = await scriptedUpstream(t, [200]);
  const gateway = await gatewayFor(t, upstream.url);
  await login(gateway.port, 'alice', 'wonderland');
  await waitForDecisions(gateway.logs, 1);
  t.notOk(gateway.logs.lines.some((line) => /with an HTML page/.test(line.message ?? '')));
});

t.test('a redirect to the failure page the login chose is no success', async (t) => {
  // Symfony's form login sends a failed login to the request's _failure_path, so a client
  // that names the success page there would make each wrong password look like a success.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const fields = new URLSearchParams(request.body.toString('utf8'));
    // A value that is no path names a route, here the home page's.
    const chosen = fields.get('_failure_path') === 'home_route' ? '/home' : fields.get('_failure_path');
    const location = fields.get('password') === 'wonderland' ? '/home' : chosen ?? '/login?error';
    response.writeHead(302, { location });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/login', body: 'form', success_location: ['/home'], failure_location: ['/login'] }] },
  });
  const post = (body: string) => send(gateway.port, {
    method: 'POST', path: '/login', body, headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
  });

  const guesses = [
    'username=victim&password=guess&_failure_path=%2Fhome',
    'username=victim&password=guess&_failure_path=http%3A%2F%2Fapp.example%2Fhome',
    'username=victim&password=guess&_failure_path=home_route',
  ];
  for (const body of guesses) t.equal((await post(body)).headers['set-cookie'], undefined, `${body}: no device cookie`);
  const owner = await post('username=alice&password=wonderland&_failure_path=%2Flogin%3Ffailed');

  const lines = await waitForDecisions(gateway.logs, guesses.length + 1);
  guesses.forEach((body, index) => {
    t.equal(lines[index].event.outcome, 'unknown', `${body}: no success`);
    t.equal(lines[index].riskgate.outcome_reason, 'failure_path_chosen', `${body}: the reason is logged`);
  });
  t.equal(lines[guesses.length].event.outcome, 'success', 'a success redirected elsewhere than the named failure page counts');
  t.ok(owner.headers['set-cookie'], 'and earns the device cookie');
});

t.test('a chosen failure page under the app base URL is no success', async (t) => {
  // Symfony puts the app's base URL before a _failure_path that starts with "/".
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/shop/login')) return false;
    const fields = new URLSearchParams(request.body.toString('utf8'));
    const location = fields.get('password') === 'wonderland' ? '/shop/home' : `/shop${fields.get('_failure_path') ?? '/login'}`;
    response.writeHead(302, { location });
    response.end();
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url, {
    config: { login_routes: [{ path: '/shop/login', body: 'form', success_location: ['/shop/home'], failure_location: ['/shop/login'] }] },
  });

  const reply = await send(gateway.port, {
    method: 'POST', path: '/shop/login', body: 'username=victim&password=guess&_failure_path=%2Fhome',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
  });

  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(reply.headers['set-cookie'], undefined, 'no device cookie');
  t.equal(line.event.outcome, 'unknown');
  t.equal(line.riskgate.outcome_reason, 'failure_path_chosen');
});

t.test('a success for a username named only in the query is not learned', async (t) => {
  // An identifier-first app keeps the username step's account in its session, and its
  // password step signs in that account whatever the query names.
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    const fields = JSON.parse(request.body.toString('utf8') || '{}') as { password?: string };
    response.writeHead(fields.password === 'mallory-pw' ? 200 : 401, { 'content-type': 'application/json' });
    response.end('{}');
    return true;
  };
  t.teardown(() => upstream.stop());
  const gateway = await gatewayFor(t, upstream.url);

  const reply = await send(gateway.port, {
    method: 'POST', path: '/login?username=alice', body: '{"password":"mallory-pw"}',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
  });
  const failed = await send(gateway.port, {
    method: 'POST', path: '/login?username=alice', body: '{"password":"guess"}',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
  });

  const [line, failure] = await waitForDecisions(gateway.logs, 2);
  t.equal(reply.status, 200, 'the app\'s answer passes');
  t.equal(reply.headers['set-cookie'], undefined, 'no device cookie for the query\'s account');
  t.equal(line.event.outcome, 'unknown', 'no success for it');
  t.equal(line.riskgate.outcome_reason, 'username_in_query');
  t.equal(failed.status, 401);
  t.equal(failure.event.outcome, 'failure', 'a failure still counts against the query\'s account');
});

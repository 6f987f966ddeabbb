import t, { type Test } from 'tap';

import { BROWSER_HEADERS, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { sha256 } from './raw.js';

const FORM = 'application/x-www-form-urlencoded';

/**
 * Start a gateway in front of an app that, as Drupal 7's login block does, checks `name`
 * and `pass` on whatever page the form is posted to.
 */
async function setUp(t: Test) {
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.method !== 'POST') return false;
    const fields = new URLSearchParams(request.body.toString('utf8'));
    if (!fields.has('pass')) return false;
    const ok = fields.get('name') === 'alice' && fields.get('pass') === 'wonderland';
    response.writeHead(ok ? 302 : 200, ok ? { location: '/user' } : { 'content-type': 'text/html' });
    response.end(ok ? '' : '<form>Sorry, unrecognized username or password.</form>');
    return true;
  };
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: {
      trusted_proxies: ['127.0.0.1/32'],
      login_routes: [{ path: '/user/login', body: 'form', username_field: 'name', password_field: 'pass', any_path: true,
        success_location: ['/user'], failure_status: ['200'] }],
    },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

function post(port: number, path: string, body: string | Buffer, address: string, headers: Record<string, string> = {}) {
  return send(port, {
    method: 'POST', path, body,
    headers: { ...BROWSER_HEADERS, accept: 'application/json', 'content-type': FORM, 'x-forwarded-for': address, ...headers },
  });
}

t.test('a login form posted to any page is judged with any_path', async (t) => {
  const { upstream, gateway } = await setUp(t);

  const statuses: number[] = [];
  for (let index = 1; index <= 10; index += 1) {
    const body = `name=alice&pass=guess-${index}&form_id=user_login_block`;
    statuses.push((await post(gateway.port, `/node/${index}`, body, `203.0.113.${index}`)).status);
  }
  const decisions = await waitForDecisions(gateway.logs, 10);

  const checked = upstream.requests.filter((received) => received.body.includes('pass='));
  t.equal(checked.length, 5, 'five guesses reached the password check, then the account was challenged');
  t.ok(statuses.slice(5).every((status) => status === 401), 'the rest were challenged');
  t.equal(decisions[0].riskgate.route, 'route-1', 'each has a decision line of the login route');
  t.equal(decisions[0].url.path, '/*/*', 'with its page, its segments masked as for any path that is not a route');
  t.equal(decisions[0].user.name, gateway.context.keys.pseudonymize('alice'));
  t.equal(decisions[9].riskgate.counters.failures_per_account, 5);
});

t.test('other forms on any page reach the app as sent, with no decision', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const comment = 'name=bob&comment_body=Hello+there%21&form_id=comment_form';

  const reply = await post(gateway.port, '/node/1', comment, '198.51.100.1');

  t.equal(reply.status, 200);
  t.equal(upstream.requests.length, 1);
  t.equal(upstream.requests[0].sha256, sha256(comment), 'byte for byte');
  t.equal(gateway.logs.decisions.length, 0, 'no login decision');
});

t.test('a login form too large to read whole is refused on any page', async (t) => {
  const { upstream, gateway } = await setUp(t);
  const padded = `x=${'a'.repeat(70_000)}&name=alice&pass=guess&form_id=user_login_block`;

  const large = await post(gateway.port, '/node/1', padded, '198.51.100.2');
  const chunked = await send(gateway.port, {
    method: 'POST', path: '/node/1', body: 'name=alice&pass=guess',
    headers: { ...BROWSER_HEADERS, 'content-type': FORM, 'transfer-encoding': 'chunked' },
  });
  const cutAtNul = await send(gateway.port, {
    method: 'POST', path: '/node/1', body: 'name=alice&pass%00x=guess',
    headers: { ...BROWSER_HEADERS, 'content-type': FORM, 'transfer-encoding': 'chunked' },
  });
  const upload = Buffer.from(`x=${'a'.repeat(70_000)}&comment_body=long`);
  const comment = await post(gateway.port, '/node/1', upload, '198.51.100.3');

  t.equal(large.status, 400, 'a body over the limit that sends the password field gets 400');
  t.equal(large.json().title, 'unjudged login in a form body');
  t.match(large.json().detail, /field "pass".*login route/, 'naming the field and the route');
  t.equal(chunked.status, 400, 'so does a chunked one');
  t.equal(cutAtNul.status, 400, 'and one whose field name PHP cuts at a NUL to the password field');
  t.equal(comment.status, 200, 'a large form without it passes');
  t.same(upstream.requests.map((received) => received.sha256), [sha256(upload)], 'and only that one reached the app whole');
});

t.test('a form is judged as the any_path route whose fields it sends', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: {
      login_routes: [
        { id: 'drupal', path: '/user/login', body: 'form', username_field: 'name', password_field: 'pass', any_path: true },
        { id: 'typo3', path: '/login', body: 'form', username_field: 'user', password_field: 'pass', any_path: true },
      ],
    },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // TYPO3's felogin shares the password field name with Drupal's login block.
  await post(gateway.port, '/about', 'user=alice&pass=guess&logintype=login', '127.0.0.1');
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.riskgate.route, 'typo3', 'the route whose username field the form sends');
  t.equal(decision.user.name, gateway.context.keys.pseudonymize('alice'), 'so the account is counted');
});

t.test('a password field in the query of any page is refused with any_path', async (t) => {
  const { upstream, gateway } = await setUp(t);

  for (const target of ['/about?name=alice&pass=guess', '/?%20pass=guess', '/x?PASS[0]=guess', '/x?pass%00x=guess']) {
    const reply = await send(gateway.port, { path: target, headers: BROWSER_HEADERS });
    t.equal(reply.status, 400, `${target}: 400`);
    t.equal(reply.json().title, 'login query on another page');
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
  t.equal((await send(gateway.port, { path: '/search?q=pass', headers: BROWSER_HEADERS })).status, 200, 'a query that only mentions it passes');
});

t.test('NUL-cut password field judged anywhere', async (t) => {
  const { upstream, gateway } = await setUp(t);

  const reply = await post(gateway.port, '/node/1', 'name=alice&pass%00x=guess&form_id=user_login_block', '198.51.100.4');
  const [decision] = await waitForDecisions(gateway.logs, 1);

  t.equal(decision.riskgate.route, 'route-1', 'PHP reads pass%00x as pass, so the form is a login');
  t.equal(decision.user.name, gateway.context.keys.pseudonymize('alice'));
  t.equal(reply.status, 200, 'the app\'s failure page');
  t.equal(upstream.requests.length, 1, 'the judged login reached the app');
});

t.test('unclosed-bracket password field rejected', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { login_routes: [{ path: '/login', body: 'form', username_field: 'user_name', password_field: 'user_pass', any_path: true }] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // PHP turns a `[` that no `]` closes into `_`, so it reads user[pass as user_pass.
  const chunked = await send(gateway.port, {
    method: 'POST', path: '/node/1', body: 'user_name=alice&user[pass=guess',
    headers: { ...BROWSER_HEADERS, 'content-type': FORM, 'transfer-encoding': 'chunked' },
  });
  const query = await send(gateway.port, { path: '/node/1?user_name=alice&user[pass=guess', headers: BROWSER_HEADERS });

  t.equal(chunked.status, 400, 'a chunked form gets 400');
  t.equal(chunked.json().title, 'unjudged login in a form body');
  t.equal(query.status, 400, 'a query gets 400');
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

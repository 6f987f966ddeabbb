import { createHash } from 'node:crypto';

import t from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { BROWSER_HEADERS, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const VARIANTS = ['Alice', ' alice ', 'ALICE', '\uff21lice'];

t.test('username variants are one account', async (t) => {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, clock: clock.read });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const bodies = VARIANTS.map((username) => JSON.stringify({ username, password: 'not-her-password' }));
  for (const body of bodies) {
    const reply = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body,
    });
    t.equal(reply.status, 401, 'the app rejects the wrong password');
  }

  const decisions = await waitForDecisions(gateway.logs, VARIANTS.length);
  const pseudonyms = new Set(decisions.map((line) => line.user.name));
  t.equal(pseudonyms.size, 1, 'every variant logs the same user.name');
  t.match([...pseudonyms][0], /^[0-9a-f]{32}$/, 'user.name is a pseudonym');
  t.same(
    decisions.map((line) => line.riskgate.counters.failures_per_account),
    [0, 1, 2, 3],
    'the account failure counter rises across the variants',
  );

  t.equal(upstream.logins.length, VARIANTS.length);
  upstream.logins.forEach((received, index) => {
    t.equal(received.username, VARIANTS[index], `variant ${index} reaches the app as typed`);
    t.equal(received.sha256, createHash('sha256').update(bodies[index]).digest('hex'), `variant ${index} body unchanged`);
  });
});

t.test('case preserve keeps variants apart', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { username: { case: 'preserve' } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (const username of ['Alice', 'alice']) {
    await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'x' }),
    });
  }

  const [first, second] = await waitForDecisions(gateway.logs, 2);
  t.not(first.user.name, second.user.name, 'two accounts');
  t.equal(second.riskgate.counters.failures_per_account, 0, 'no shared failure count');
});

t.test('form and JSON logins share the account', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=+Alice+&password=x',
  });
  await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
    body: '{"username":"alice","password":"x"}',
  });

  const [form, json] = await waitForDecisions(gateway.logs, 2);
  t.equal(form.user.name, json.user.name, 'one pseudonym for both encodings');
  t.equal(json.riskgate.counters.failures_per_account, 1, "the form login's failure counts");
});

t.test('ambiguous username bodies are refused', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const cases: [string, string, string, number][] = [
    ['duplicated form field', 'application/x-www-form-urlencoded', 'username=alice&username=bob&password=x', 400],
    ['username not a string', 'application/json', '{"username":["alice"],"password":"x"}', 400],
    // A document store matches null to every record without the field, and PHP reads it as "".
    ['username null', 'application/json', '{"username":null,"password":"x"}', 400],
    // Laravel reads a body as JSON when `/json` appears anywhere in the Content-Type.
    ['parameter without a name', 'application/x-www-form-urlencoded;=/json', 'username=alice&password=x', 400],
    ['invalid JSON', 'application/json', '{"username":"alice",', 400],
    ['other charset', 'application/json; charset=latin1', '{"username":"alice"}', 415],
    ['unknown media type', 'text/plain', 'username=alice', 415],
    // The boundary is no fault of a multipart body: its type is.
    ['multipart', 'multipart/form-data; boundary=XX', '--XX\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--XX--\r\n', 415],
  ];

  for (const [name, contentType, body, status] of cases) {
    const reply = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': contentType },
      body,
    });
    t.equal(reply.status, status, `${name}: ${status}`);
    t.equal(reply.headers['content-type'], 'application/problem+json', `${name}: a problem document`);
  }
  t.equal(upstream.requests.length, 0, 'none reached the app');
});

t.test('Java UTF-8 labels accepted', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // Browsers read each WHATWG label of UTF-8 as UTF-8, and some clients send `utf8`.
  for (const charset of ['utf-8', 'UTF8', 'unicode-1-1-utf-8']) {
    const reply = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': `application/json; charset=${charset}` },
      body: '{"username":"alice","password":"wonderland"}',
    });
    t.equal(reply.status, 200, `charset=${charset}: forwarded`);
  }
  t.equal(upstream.logins.length, 3, 'each login reached the app');

  // WHATWG reads these as UTF-8 too, but Java has no charset of these names, and Tomcat
  // then reads the form in its default ISO-8859-1.
  for (const charset of ['x-unicode20utf8', 'unicode20utf8', 'unicode11utf8', '" utf-8"', '"utf-8 "']) {
    const reply = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      headers: { ...BROWSER_HEADERS, 'content-type': `application/x-www-form-urlencoded; charset=${charset}` },
      body: 'username=%C3%87lice&password=wonderland',
    });
    t.equal(reply.status, 415, `charset=${charset}: 415`);
  }
  t.equal(upstream.logins.length, 3, 'none of those reached the app');
});

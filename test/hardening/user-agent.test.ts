import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import t from 'tap';

import { MAX_USER_AGENT_LENGTH, parseUserAgent } from '../../src/request/user-agent.js';
import { baseLetterLookups, normalizeUsername } from '../../src/request/username.js';
import { BROWSER_HEADERS, login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { rawExchange, rawRequest } from './raw.js';

const require = createRequire(import.meta.url);

t.test('ua-parser-js is a patched 1.x release', async (t) => {
  const { version } = require('ua-parser-js/package.json') as { version: string };
  const [major, minor, patch] = version.split('.').map(Number);

  t.equal(major, 1, `ua-parser-js ${version} is a 1.x release`);
  t.ok(minor > 0 || patch >= 41, `ua-parser-js ${version} is 1.0.41 or later, which fixes the known ReDoS inputs`);
});

t.test('user agent is cut before parsing', async (t) => {
  const crafted = `Mozilla/5.0 (${'; '.repeat(4096)}`;

  const signals = parseUserAgent(crafted);

  t.equal(signals.length, BigInt(crafted.length), 'the length signal keeps the full length');
  t.equal(parseUserAgent(crafted.slice(0, MAX_USER_AGENT_LENGTH)).browser, signals.browser, 'only the cut text is parsed');
  t.ok(MAX_USER_AGENT_LENGTH <= 1024, 'the cut is short enough to keep parsing cheap');
});

t.test('crafted user agents do not stall other logins', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  await login(gateway.port, 'warm-up', 'wonderland');

  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  // A different start per request, so that no parse result cache can hide the cost.
  const crafted = Array.from({ length: 60 }, (_, index) =>
    index % 2 === 0 ? `Mozilla/5.0 (${index} ${'; '.repeat(4000)}` : `${index}${'a'.repeat(8000)}`);
  const attacks = crafted.map((agent, index) =>
    login(gateway.port, `attacker${index}`, 'x', { source: `127.0.1.${index + 1}`, headers: { 'user-agent': agent } }));
  const normal = Array.from({ length: 20 }, async (_, index) => {
    const started = performance.now();
    const reply = await login(gateway.port, `user${index}`, 'wonderland', { source: `127.0.2.${index + 1}` });
    return { status: reply.status, ms: performance.now() - started };
  });
  const [attackReplies, normalReplies] = await Promise.all([Promise.all(attacks), Promise.all(normal)]);
  histogram.disable();

  t.equal(attackReplies.filter((reply) => reply.status === 401).length, 60, 'every crafted login was judged and answered');
  t.equal(normalReplies.filter((reply) => reply.status === 200).length, 20, 'every normal login got in');
  // A stalling parser blocks for seconds per crafted agent, so 60 of them would hold these
  // logins for minutes; the bound leaves room for a loaded machine, and the event-loop
  // check below is the precise one.
  const slowest = Math.max(...normalReplies.map((reply) => reply.ms));
  t.ok(slowest < 5000, `normal logins stay responsive (slowest ${slowest.toFixed(0)} ms)`);
  const maxDelayMs = histogram.max / 1e6;
  t.ok(maxDelayMs < 300, `the event loop is never blocked for long (max delay ${maxDelayMs.toFixed(1)} ms)`);

  const decisions = await waitForDecisions(gateway.logs, 81);
  const crafted0 = decisions.find((line) => line.riskgate.signals.ua.length === crafted[0].length);
  t.ok(crafted0, 'the decision line records the full user agent length');
  t.ok(crafted0?.riskgate.truncated.includes('user_agent.original'), 'the logged user agent is cut and flagged');
});

t.test('over-long headers get 431 before any parsing', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const body = '{"username":"alice","password":"wonderland"}';

  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', [
    ['Host', 'riskgate.test'],
    ['User-Agent', 'a'.repeat(16_384)],
    ['Accept', BROWSER_HEADERS.accept],
    ['Content-Type', 'application/json'],
    ['Content-Length', String(body.length)],
  ], body));

  t.equal(exchange.statuses[0], 431);
  t.equal(exchange.closedByServer, true, 'the connection is closed');
  t.equal(upstream.requests.length, 0);
  t.equal(gateway.logs.decisions.length, 0, 'no login was judged');
});

t.test('username blown up by NFKC is rejected', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  // U+FDFA is three bytes of UTF-8 and eighteen characters after NFKC.
  const blownUp = '\ufdfa'.repeat(20_000);
  const ligatures = '\ufb00'.repeat(600);

  const rejected = await login(gateway.port, blownUp, 'x');
  const judged = await login(gateway.port, ligatures, 'x');
  const cookie = await login(gateway.port, 'alice', 'wonderland', { headers: { cookie: `username=${encodeURIComponent('\ufdfa'.repeat(300))}; theme=dark` } });

  t.equal(rejected.status, 400);
  t.match(rejected.json(), { title: 'invalid username', detail: /20000 characters and NFKC expands them to 360000/ });
  t.equal(judged.status, 401, 'a name that grows less than twice its length is judged');
  t.equal(cookie.status, 200);
  t.equal(upstream.logins.length, 2, 'the rejected login never reached the app');
  t.equal(upstream.logins[1].headers.cookie, 'theme=dark', 'a username cookie that blows up is removed');
});

t.test('each username character costs one collator lookup per process', async (t) => {
  // More distinct characters than any bounded cache of 200,000 would keep, as a flood of
  // names made of fresh code points sends them.
  const names: string[] = [];
  for (let start = 0x30000; start < 0x30000 + 210_000; start += 15_000) {
    let name = '';
    for (let codePoint = start; codePoint < start + 15_000; codePoint += 1) name += String.fromCodePoint(codePoint);
    names.push(name);
  }

  const before = baseLetterLookups();
  const first = names.map((name) => normalizeUsername(name));
  const afterFirst = baseLetterLookups();
  const second = names.map((name) => normalizeUsername(name));

  t.equal(afterFirst - before, 210_000, 'the first sight of each character looks it up');
  t.equal(baseLetterLookups(), afterFirst, 'no character is looked up again');
  t.same(second, first, 'the names read the same from the recorded lookups');
});

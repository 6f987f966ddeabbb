import { monitorEventLoopDelay } from 'node:perf_hooks';

import t, { type Test } from 'tap';

import { opensLikeJsonObject, trimTrailing } from '../../src/request/linear-text.js';
import { DEFAULT_USERNAME_NORMALIZATION, longMarkRun, normalizeUsername, usernameMarkup } from '../../src/request/username.js';
import { startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';

const FORM = 'application/x-www-form-urlencoded';

t.test('trailing characters are trimmed', async (t) => {
  t.equal(trimTrailing('login. .', '. '), 'login');
  t.equal(trimTrailing('login', '. '), 'login');
  t.equal(trimTrailing('. .', '. '), '');
  t.equal(trimTrailing('/portal//', '/'), '/portal');
  t.equal(trimTrailing(`${'.'.repeat(100_000)}x`, '. '), `${'.'.repeat(100_000)}x`, 'a run that does not end the text stays');
});

t.test('a JSON object start is found after comments', async (t) => {
  const opening = ['{', '  {"a":1}', '/* x */{', '/**/ /**/\n{', '// x\n{', '# x\r\n {', '/* a */{'];
  for (const text of opening) t.ok(opensLikeJsonObject(text), `${JSON.stringify(text)} opens like an object`);

  const other = ['', 'username=alice', '/* x', '// x {', '# {', '/* a */ b {', `${'/**/'.repeat(10_000)}x`, '[{}]'];
  for (const text of other) t.notOk(opensLikeJsonObject(text), `${JSON.stringify(text.slice(0, 20))} does not`);
});

/** Start a gateway in front of a recording app, and a histogram of event loop delays from now on. */
async function watchedGateway(t: Test) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  return { gateway, histogram };
}

t.test('crafted paths and bodies do not stall the gateway', async (t) => {
  const { gateway, histogram } = await watchedGateway(t);
  // A backtracking pattern tries each way to split a run of comments not followed by "{",
  // and takes time in the square of a run of dots that does not end a segment.
  const comments = `${'/**/'.repeat(40)}x`;
  const commented = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(comments, FORM), comments));
  const dotted = await Promise.all(Array.from({ length: 4 }, (_, index) =>
    rawExchange(gateway.port, `GET /a|b/${'.'.repeat(15_900)}${index}%3F HTTP/1.1\r\nHost: riskgate.test\r\n\r\n`)));
  histogram.disable();

  t.equal(commented.statuses[0], 401, 'the comment-run form is judged and forwarded');
  for (const [index, exchange] of dotted.entries()) t.ok(exchange.statuses[0], `dotted path ${index} is answered`);
  const maxDelayMs = histogram.max / 1e6;
  t.ok(maxDelayMs < 300, `the event loop is never blocked for long (max delay ${maxDelayMs.toFixed(1)} ms)`);

  const object = `/**/{"username":"alice","password":"x"}`;
  const rejected = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(object, FORM), object));
  t.equal(rejected.statuses[0], 400, 'a form that opens like a JSON object after a comment is still refused');
});

t.test('username markup is found in linear time', async (t) => {
  t.equal(usernameMarkup('adm&x;in'), '&x;');
  t.equal(usernameMarkup('a&;b'), undefined, 'an empty entity is no markup');
  t.equal(usernameMarkup('x;y&z'), undefined, 'a semicolon before the ampersand is none either');
  t.equal(usernameMarkup('&'.repeat(65_490)), undefined, 'a run of ampersands has none');
});

t.test('long runs of combining marks are cut before normalising', async (t) => {
  const marks = '\u0301'.repeat(100) + '\u0316'.repeat(100);
  t.equal(longMarkRun(`a${marks}`), 200);
  t.equal(longMarkRun(`a${'\u0301'.repeat(30)}b`), undefined, 'thirty marks in a row are allowed');
  const key = normalizeUsername(`a${marks}`, { ...DEFAULT_USERNAME_NORMALIZATION, accents: 'preserve' });
  t.equal([...key.normalize('NFD')].length, 31, 'the name keeps its first thirty marks');
});

t.test('crafted usernames do not stall the gateway', async (t) => {
  const { gateway, histogram } = await watchedGateway(t);
  // A pattern for `&...;` backtracks in the square of a run of `&`, and normalising a run of
  // marks costs time in its square.
  const ampersands = JSON.stringify({ username: '&'.repeat(60_000), password: 'x' });
  const marked = JSON.stringify({ username: `a${'\u0301'.repeat(10_000)}${'\u0316'.repeat(10_000)}`, password: 'x' });
  const ampersandReply = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(ampersands), ampersands));
  const markedReply = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(marked), marked));
  histogram.disable();

  t.equal(ampersandReply.statuses[0], 401, 'the run of ampersands is judged and forwarded');
  t.equal(markedReply.statuses[0], 400, 'the run of marks is refused');
  t.match(markedReply.text, /a run of 20000 combining marks, more than the 30/);
  const maxDelayMs = histogram.max / 1e6;
  t.ok(maxDelayMs < 300, `the event loop is never blocked for long (max delay ${maxDelayMs.toFixed(1)} ms)`);
});

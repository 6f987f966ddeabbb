import { monitorEventLoopDelay } from 'node:perf_hooks';

import t from 'tap';

import { opensLikeJsonObject, trimTrailing } from '../../src/request/linear-text.js';
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

t.test('crafted paths and bodies do not stall the gateway', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
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

import t from 'tap';

import { createLogger } from '../../src/log/logger.js';
import { LogCapture, login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';

const FORGED = JSON.stringify({ message: 'login decision', user: { name: 'forged-admin' }, riskgate: { decision: 'allow' } });

const USERNAMES: [string, string][] = [
  ['newline and a fake line', `mallory\n${FORGED}\n`],
  ['CRLF and a fake line', `mallory\r\n${FORGED}`],
  ['bare CR', `mallory\r${FORGED}`],
  ['U+2028 line separator', `mallory\u2028${FORGED}`],
  ['U+2029 paragraph separator', `mallory\u2029${FORGED}`],
  ['vertical tab and form feed', `mallory\u000b${FORGED}\u000c`],
  ['100 kB name', `mallory${'A'.repeat(100_000)}`],
];

// Control characters other than white space make a username unreadable: these logins get
// 400 and a rejection line that carries no name.
const REFUSED: [string, string][] = [
  ['ANSI escapes', 'mallory\u001b[2K\u001b[1A\u001b[31mOK\u001b[0m\u001b]0;title\u0007'],
  ['U+0085 next line', `mallory\u0085${FORGED}`],
  ['file and group separators', `mallory\u001c${FORGED}\u001d\u001e`],
];

// Python's str.splitlines() boundaries, which log shippers written in Python follow.
const SPLITLINES = /\r\n|[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/;

t.test('client strings cannot forge or break decision lines', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { log: { username: 'plain' }, body_limit_bytes: 262_144 },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (const [index, [, username]] of USERNAMES.entries()) {
    await login(gateway.port, username, 'x', { source: `127.0.0.${index + 2}` });
  }
  for (const [index, [name, username]] of REFUSED.entries()) {
    const reply = await login(gateway.port, username, 'x', { source: `127.0.0.${index + 50}` });
    t.equal(reply.status, 400, `${name}: refused`);
  }
  // A user agent with obs-text bytes (0x85 reads as U+0085 in Node's latin1 header decoding).
  const agent = Buffer.from('Mozilla/5.0 \u0085{"message":"login decision"}', 'latin1').toString('latin1');
  const body = '{"username":"ua-case","password":"x"}';
  const headers = loginHeaders(body).map(([name, value]) => [name, name === 'User-Agent' ? agent : value] as [string, string]);
  await rawExchange(gateway.port, rawRequest('POST', '/login', headers, body), { source: '127.0.0.100' });

  const logins = USERNAMES.length + 1;
  await waitForDecisions(gateway.logs, logins);
  const text = gateway.logs.text;

  const byNewline = text.split('\n').filter((line) => line !== '');
  t.equal(byNewline.length, gateway.logs.lines.length, 'splitting on \\n finds exactly the lines written');
  const parsedByNewline = byNewline.map((line) => JSON.parse(line));
  t.equal(parsedByNewline.filter((line) => line.message === 'login decision').length, logins, 'one decision line per judged login');
  const rejections = parsedByNewline.filter((line) => line.message === 'login rejected');
  t.same(rejections.map((line) => line.riskgate.rejection), REFUSED.map(() => 'invalid username'), 'one rejection line per refused login');
  t.notOk(rejections.some((line) => JSON.stringify(line).includes('mallory')), 'rejection lines carry no name');

  const bySplitlines = text.split(SPLITLINES).filter((line) => line !== '');
  t.equal(bySplitlines.length, byNewline.length, 'splitlines semantics find the same lines');
  for (const line of bySplitlines) {
    t.doesNotThrow(() => JSON.parse(line), 'every splitlines piece is a whole JSON line');
  }

  t.notOk(text.includes('forged-admin"'), 'no forged user name reaches the log as a JSON value');
  t.notOk(parsedByNewline.some((line) => line.user?.name === 'forged-admin'), 'no line carries the forged user');
  t.notOk(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/.test(text), 'no raw control or separator character in the output');

  const decisions = gateway.logs.decisions;
  for (const [index, [name]] of USERNAMES.entries()) {
    const logged = String(decisions[index].user.name);
    t.notOk(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(logged), `${name}: the parsed name has no control character`);
    t.ok(logged.startsWith('mallory'), `${name}: the name is still recognisable`);
  }

  const long = decisions[USERNAMES.length - 1];
  t.ok(String(long.user.name).length <= 256, 'the 100 kB name is cut');
  t.same(long.riskgate.truncated, ['user.name'], 'the cut is flagged');
  t.equal(decisions[0].riskgate.truncated, undefined, 'short values are not flagged');

  const agentLine = decisions[USERNAMES.length];
  t.match(agentLine.user_agent.original, /^Mozilla\/5\.0 \\u0085/, 'the user agent control character is escaped visibly');
});

t.test('any log line stays one line for every line reader', async (t) => {
  const capture = new LogCapture();
  const { logger } = createLogger({ level: 'info', destination: 'stdout' }, capture);
  const value = 'a\u2028b\u2029c\u0085d\u009be\r\nf';

  logger.warn({ note: value }, 'line with separators');

  t.equal(capture.text.split(SPLITLINES).filter((line) => line !== '').length, 1, 'one line under splitlines');
  t.notOk(/[\u0080-\u009f\u2028\u2029]/.test(capture.text), 'separators are escaped in the raw text');
  t.equal(capture.lines[0].note, value, 'the escaped line parses back to the same value');
});

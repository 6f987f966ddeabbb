import fc from 'fast-check';
import t from 'tap';

import { jsonSyntaxErrorPosition } from '../../src/admin/json-syntax.js';
import { send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { rawExchange } from '../hardening/raw.js';
import { ADMIN_TOKEN } from './client.js';

t.test('malformed admin JSON names the position only', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { admin: { token: ADMIN_TOKEN } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const unquoted = '{"username":carol.secret@example.com}';
  const entry = '{"action":"block","username":mallory.secret,"ttl":"1h","reason":"x"}';
  const cut = '{"username":"carol.secret@exam';
  const trailing = '{"username":"carol"} carol.secret';
  const escape = '{"username":"carol.secret\\q"}';
  const cases: [string, string, string, number][] = [
    ['unquoted username', '/v1/accounts/erase', unquoted, unquoted.indexOf('carol')],
    ['unquoted entry username', '/v1/manual-entries', entry, entry.indexOf('mallory')],
    ['body cut short', '/v1/accounts/export', cut, cut.length],
    ['text after the object', '/v1/counters/lookup', trailing, trailing.lastIndexOf('carol')],
    ['invalid escape', '/v1/accounts/erase', escape, escape.indexOf('q')],
  ];

  for (const [name, path, body, position] of cases) {
    const reply = await send(gateway.adminPort, {
      method: 'POST',
      path,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body,
    });
    t.equal(reply.status, 400, `${name}: 400`);
    t.equal(reply.json().detail, `the body is not valid JSON: syntax error at position ${position}; send a JSON object`,
      `${name}: the detail gives the position and no part of the body`);
  }

  const audit = gateway.logs.lines.filter((line) => line.message === 'admin action');
  t.equal(audit.length, cases.length, 'each rejected call has an audit line');
  t.ok(audit.every((line) => line.riskgate.admin.details.error.startsWith('the body is not valid JSON: syntax error at position')),
    'each audit line carries the fixed message');
  for (const fragment of ['carol', 'mallory', 'secret', 'example.com']) {
    t.notOk(gateway.logs.text.includes(fragment), `no log line holds "${fragment}"`);
  }
});

t.test('JSON syntax position agrees with JSON.parse', async (t) => {
  const characters = fc.constantFrom(...'{}[]":,0123456789-+.eEtrufalsn \\/\n\tAa'.split(''));
  const texts = fc.oneof(
    fc.json(),
    fc.array(characters, { maxLength: 24 }).map((list) => list.join('')),
    fc.json().chain((json) => fc.nat(json.length).map((cut) => json.slice(0, cut) + json.slice(cut + 1))),
  );

  fc.assert(fc.property(texts, (text) => {
    let message: string | undefined;
    try {
      JSON.parse(text);
    } catch (error) {
      message = (error as Error).message;
    }
    const position = jsonSyntaxErrorPosition(text);
    if ((message === undefined) !== (position === undefined)) return false;
    // V8 names a position for most errors (not for "Unexpected token"), and it must match.
    const reported = message === undefined ? undefined : /at position (\d+)/.exec(message)?.[1];
    return reported === undefined || Number(reported) === position;
  }), { numRuns: 20_000 });

  t.equal(jsonSyntaxErrorPosition('['.repeat(100_000)), 100_000, 'deep nesting does not overflow the stack');
  t.equal(jsonSyntaxErrorPosition('{"a":[1,{"b":null}],"c":"\\u00e9"}'), undefined, 'a valid document has no position');
});

t.test('a request target that is no URL gets 400', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { admin: { token: ADMIN_TOKEN } } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const exchange = await rawExchange(gateway.adminPort, 'GET http://[ HTTP/1.1\r\nHost: admin\r\n\r\n');

  t.equal(exchange.statuses[0], 400);
  t.notOk(gateway.logs.lines.some((line) => line.log.level === 'error'), 'no error line');
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { DEFAULT_RULES, login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

// Scores an unknown location high enough to challenge on its own.
const UNKNOWN_GEO_RULES = `
rules:
  - id: geo.unknown-location
    description: The client address has no known location
    when: "!geo.known"
    score: 50
    tags: [T1078]
tests:
  - name: unknown location is challenged
    signals: { geo: { known: false } }
    expect: { decision: challenge, rules: [geo.unknown-location] }
`;

t.test('unknown locations are a signal rules can score', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-geo-'));
  const ruleFile = join(directory, 'geo.yaml');
  writeFileSync(ruleFile, UNKNOWN_GEO_RULES);
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { trusted_proxies: ['127.0.0.1/32'], rules: [DEFAULT_RULES, ruleFile] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const unknown: [string, string][] = [
    ['::ffff:192.0.2.10', '192.0.2.10'],
    ['2001:db8::1', '2001:db8::1'],
    ['100.64.0.1', '100.64.0.1'],
    ['10.1.2.3', '10.1.2.3'],
    ['fe80::1', 'fe80::1'],
    ['::', '::'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['ff02::1', 'ff02::1'],
    // A 6to4 address carries its site's IPv4 address, here a documentation one.
    ['2002:c000:201::1', '192.0.2.1'],
  ];
  for (const [entry] of unknown) {
    const reply = await login(gateway.port, 'alice', 'wonderland', { headers: { 'x-forwarded-for': entry } });
    t.equal(reply.status, 401, `${entry}: answered with a challenge, not an error`);
  }
  // A public address geoip-lite places in the United States; no traffic is sent to it.
  const known = await login(gateway.port, 'alice', 'wonderland', { headers: { 'x-forwarded-for': '8.8.8.8' } });
  t.equal(known.status, 200, 'a located address is not challenged by the geo rule');

  const decisions = await waitForDecisions(gateway.logs, unknown.length + 1);
  unknown.forEach(([entry, address], index) => {
    const line = decisions[index];
    t.equal(line.source.ip, address, `${entry}: logged as ${address}`);
    t.equal(line.riskgate.signals.geo.known, false, `${entry}: geo.known is false`);
    t.equal(line.source.geo, undefined, `${entry}: no location is logged`);
    t.ok(line.riskgate.rules.includes('geo.unknown-location'), `${entry}: the unknown-location rule fired`);
    t.equal(line.riskgate.decision, 'challenge', `${entry}: challenged`);
  });
  const located = decisions[unknown.length];
  t.equal(located.riskgate.signals.geo.known, true);
  t.equal(located.source.geo.country_iso_code, 'US');
  t.notOk(located.riskgate.rules.includes('geo.unknown-location'));
  t.equal(gateway.logs.lines.filter((line) => line.log.level === 'error').length, 0, 'no error was logged');
});

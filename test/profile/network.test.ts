import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { RiskgateError } from '../../src/errors.js';
import { IpList } from '../../src/geo/ip-lists.js';
import { GeoResolver } from '../../src/geo/resolver.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { evaluateRules } from '../../src/rules/evaluate.js';
import { baselineSignals } from '../../src/signals/catalog.js';
import { DEFAULT_RULES, PROJECT_ROOT, TEST_SECRET } from '../helpers/gateway.js';
import { MAXMIND_ASN, MAXMIND_CITY, PLACES } from './helpers.js';

function temporaryDirectory(t: Test): string {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-network-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

t.test('MaxMind databases resolve city and ASN', async (t) => {
  const geo = GeoResolver.open({ cityFile: MAXMIND_CITY, asnFile: MAXMIND_ASN });
  const london = geo.lookup(PLACES.london, false);
  const linkoping = geo.lookup(PLACES.linkoping, false);

  t.equal(geo.locationSource, 'maxmind');
  t.same(london.geo, { known: true, country: 'GB', region: 'ENG', city: 'London', latitude: 51.5142, longitude: -0.0931 });
  t.equal(london.accuracyKm, 10);
  t.equal(london.asn, 0, 'the ASN test database has no entry for it');
  t.equal(linkoping.geo.country, 'SE');
  t.equal(linkoping.asn, 29518);
  t.equal(linkoping.asOrganization, 'Bredband2 AB');
  t.equal(geo.lookup('10.0.0.1', true).geo.known, false, 'private addresses are never looked up');
  t.equal(geo.lookup('192.0.2.1', false).geo.known, false, 'an address missing from the database is unknown');
});

t.test('geoip-lite answers without MaxMind', async (t) => {
  const geo = GeoResolver.open();
  const lookup = geo.lookup('8.8.8.8', false);

  t.equal(geo.locationSource, 'geoip-lite');
  t.equal(lookup.geo.known, true);
  t.equal(lookup.geo.country, 'US');
  t.equal(lookup.asn, 0, 'geoip-lite has no ASN');
});

t.test('unreadable MaxMind file fails with its key', async (t) => {
  const directory = temporaryDirectory(t);
  const bogus = join(directory, 'city.mmdb');
  writeFileSync(bogus, 'not a database');

  t.throws(() => GeoResolver.open({ cityFile: join(directory, 'missing.mmdb') }), {
    code: 'RG_ERR_CONFIG_INVALID',
    message: /geo\.maxmind_city: cannot read .*missing\.mmdb: file not found/,
  });
  t.throws(() => GeoResolver.open({ asnFile: bogus }), {
    code: 'RG_ERR_CONFIG_INVALID',
    message: /geo\.maxmind_asn: .*city\.mmdb is not a MaxMind DB file/,
  });
});

t.test('IP list matches addresses and ranges', async (t) => {
  const { list, problems } = IpList.parse('test', 'test.txt', [
    '# comment line',
    '203.0.113.0/25   # trailing comment',
    '203.0.113.128/25',
    '198.51.100.7',
    '2001:db8:1::/48',
    '::ffff:192.0.2.0/120',
    '64:ff9b::c633:6500/120',
    '2002:0a00:0000::/40',
    '2002::/16',
    '',
  ].join('\n'));

  t.same(problems, []);
  t.equal(list?.size, 7, 'the two adjacent /25s merged into one range');
  t.equal(list?.contains('203.0.113.200'), true);
  t.equal(list?.contains('203.0.114.0'), false);
  t.equal(list?.contains('198.51.100.7'), true);
  t.equal(list?.contains('198.51.100.8'), false);
  t.equal(list?.contains('2001:db8:1:ffff::1'), true);
  t.equal(list?.contains('2001:db8:2::1'), false);
  t.equal(list?.contains('192.0.2.9'), true, 'an IPv4-mapped range matches plain IPv4');
  t.equal(list?.contains('::ffff:198.51.100.7'), true, 'an IPv4-mapped address matches its IPv4 entry');
  t.equal(list?.contains('198.51.101.5'), true, 'a NAT64 range matches the IPv4 clients it carries');
  t.equal(list?.contains('64:ff9b::198.51.101.5'), true, 'a NAT64 address matches as its IPv4 address');
  t.equal(list?.contains('10.0.0.9'), true, 'a 6to4 range matches its IPv4 site');
  t.equal(list?.contains('10.0.1.9'), false, 'a 6to4 range covering every site stays IPv6');
  t.equal(list?.contains('not an address'), false);
});

t.test('IP list reports invalid lines by file and line', async (t) => {
  const { list, problems } = IpList.parse('tor', '/etc/lists/tor.txt', '192.0.2.1\n  192.0.2.300\n10.0.0.0/33\n');

  t.equal(list, undefined);
  t.same(problems.map((problem) => [problem.file, problem.line, problem.column]), [['/etc/lists/tor.txt', 2, 3], ['/etc/lists/tor.txt', 3, 1]]);
  t.match(problems[0].message, /IP list "tor": "192\.0\.2\.300" is not an IP address or CIDR/);
});

t.test('IP list refuses catch-all ranges', async (t) => {
  // A broken download can leave a default route in a list, which would list every client.
  const entries = ['0.0.0.0/0', '128.0.0.0/1', '10.0.0.0/7', '::/0', '2000::/3', '::ffff:0.0.0.0/100'];
  for (const entry of entries) {
    const { list, problems } = IpList.parse('tor', '/etc/lists/tor.txt', `192.0.2.1\n${entry}\n`);
    t.equal(list, undefined, `${entry}: the list is refused`);
    t.equal(problems[0]?.line, 2, `${entry}: the problem names its line`);
    t.match(problems[0]?.message, /covers more than a \/(8|16), so nearly every address would be listed/, `${entry}: and says why`);
  }

  const { list, problems } = IpList.parse('datacenter', '/etc/lists/dc.txt', '3.0.0.0/8\n2600:1f00::/24\n');
  t.same(problems, [], 'a /8 and a provider-sized IPv6 block pass');
  t.equal(list?.contains('3.1.2.3'), true);
});

t.test('ip_lists in the config replace a rule file list', async (t) => {
  const directory = temporaryDirectory(t);
  const list = join(directory, 'tor.txt');
  writeFileSync(list, '203.0.113.0/24\n');
  const ruleSet = loadRuleSet([DEFAULT_RULES], { ipLists: { tor: list } });
  const signals = baselineSignals();
  signals.ip.address = '203.0.113.9';

  const evaluation = evaluateRules(ruleSet, signals, Object.fromEntries(ruleSet.counters.map((counter) => [counter.name, 0n])));
  t.same(evaluation.fired, ['network.tor-exit'], 'the configured file decides');
  t.equal(ruleSet.ipLists.get('datacenter')?.file, join(PROJECT_ROOT, 'rules/lists/datacenter.txt'), 'other lists stay as the rule file names them');
});

t.test('unknown list name fails at load with file and line', async (t) => {
  const directory = temporaryDirectory(t);
  const rules = join(directory, 'rules.yaml');
  writeFileSync(rules, [
    'rules:',
    '  - id: test.listed',
    '    description: Listed address',
    '    when: ip.in_list("tro")',
    '    score: 10',
    '',
  ].join('\n'));

  const error = (() => {
    try {
      loadRuleSet([rules]);
    } catch (caught) {
      return caught as RiskgateError;
    }
    return undefined;
  })();
  t.equal(error?.code, 'RG_ERR_RULES_INVALID');
  t.same(error?.problems.map((problem) => [problem.file, problem.line, problem.column]), [[rules, 4, 22]]);
  t.match(error?.problems[0].message, /rule "test\.listed": unknown IP list "tro"/);
});

t.test('profile retention is capped', async (t) => {
  t.throws(
    () => loadConfigObject({ upstream: 'http://127.0.0.1:3000', profile: { retention: '800d' } }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET }),
    { code: 'RG_ERR_CONFIG_INVALID', message: /profile\.retention "800d" is longer than the 400d maximum/ },
  );
  const config = loadConfigObject({ upstream: 'http://127.0.0.1:3000' }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
  t.equal(config.profile.retentionMs, 90 * 86_400_000, 'the default is 90 days');
  t.equal(config.profile.maxValuesPerFeature, 16);
  t.equal(config.profile.maxSpeedKmh, 1000);
});

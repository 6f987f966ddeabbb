import t from 'tap';

import { runCheck } from '../../src/cli/tuning.js';
import { findBroadProxyRanges } from '../../src/request/broad-proxy-ranges.js';
import { DEFAULT_RULES, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { captureOutput, writeTree } from '../tuning/io.js';

const BROAD: [string, RegExp][] = [
  ['0.0.0.0/0', /shorter than \/8/],
  ['1.0.0.0/7', /shorter than \/8/],
  ['::/0', /shorter than \/32/],
  ['2000::/3', /shorter than \/32/],
  ['::ffff:0:0/96', /shorter than \/8/],
  ['100.0.0.0/8', /public unicast/],
  ['192.168.0.0/15', /public unicast/],
  ['173.245.48.0/20', /public unicast/],
  ['2400:cb00::/32', /public unicast/],
  // IPv6 transition ranges carry internet clients' IPv4 addresses: 6to4, Teredo, NAT64.
  ['2002::/16', /shorter than \/8/],
  ['2001::/32', /public unicast/],
  // NAT64 addresses are read as the IPv4 clients they carry, so this is all of IPv4.
  ['64:ff9b::/96', /shorter than \/8/],
];

const NARROW = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.1', '::1',
  'fd12:3456:789a::/48', '203.0.113.0/24', '8.8.8.8', '2001:4860:4860::8888',
  // Unique local and link-local IPv6 blocks hold no internet client, however short.
  'fc00::/7', 'fd00::/8', 'fe80::/10'];

t.test('broad trusted proxy ranges', async (t) => {
  for (const [range, reason] of BROAD) {
    const found = findBroadProxyRanges([range]);
    t.equal(found.length, 1, `${range} is flagged`);
    t.match(found[0]?.reason, reason, `${range} is flagged for the right reason`);
  }
  for (const range of NARROW) {
    t.same(findBroadProxyRanges([range]), [], `${range} passes`);
  }
});

t.test('check warns about 0.0.0.0/0', async (t) => {
  const config = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'broad.yaml': `${config}trusted_proxies: [10.0.0.0/8, 0.0.0.0/0]\n`,
    'narrow.yaml': `${config}trusted_proxies: [10.0.0.0/8, 127.0.0.1]\n`,
  });
  t.teardown(tree.remove);

  const broad = captureOutput();
  const broadStatus = await runCheck({ config: tree.path('broad.yaml') }, [], broad.io);
  const warning = broad.lines().find((line) => line.includes('trusted_proxies'));
  t.equal(broadStatus, 0, 'the warning does not fail the check');
  t.match(warning, /broad\.yaml: warning: trusted_proxies entry 0\.0\.0\.0\/0 is shorter than \/8/);
  t.match(warning, /choose its own address through X-Forwarded-For/, 'the warning says why');
  t.notMatch(broad.out(), /10\.0\.0\.0\/8/, 'the private range is not named');
  t.match(broad.lines().at(-1), /; 1 warning\(s\)$/);

  const strict = captureOutput();
  t.equal(await runCheck({ config: tree.path('broad.yaml'), strict: true }, [], strict.io), 1, '--strict fails on it');

  const narrow = captureOutput();
  await runCheck({ config: tree.path('narrow.yaml') }, [], narrow.io);
  t.notMatch(narrow.out(), /trusted_proxies/, 'private ranges and single addresses pass');
});

t.test('start warns about ::/0', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { trusted_proxies: ['127.0.0.1', '::/0'] } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const warnings = gateway.logs.lines.filter((line) => line.log.level === 'warn' && line.riskgate?.trusted_proxy !== undefined);
  t.equal(warnings.length, 1, 'one warning line for the one broad range');
  t.equal(warnings[0]?.riskgate.trusted_proxy, '::/0');
  t.match(warnings[0]?.message, /::\/0 is shorter than \/32\. Any client in it can choose its own address through X-Forwarded-For/);
});

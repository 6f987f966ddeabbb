import t from 'tap';

import { PROJECT_ROOT, TEST_SECRET } from '../helpers/gateway.js';
import { loadConfigObject } from '../../src/config/load.js';
import { describeTopology } from '../../src/store/redis-client.js';

function load(store: Record<string, unknown>) {
  return loadConfigObject({ upstream: 'http://127.0.0.1:3000', store }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
}

t.test('Cluster, Sentinel and TLS keys resolve', async (t) => {
  const cluster = load({ url: 'rediss://:pw@redis.internal', cluster: ['10.0.0.1:7000', '[2001:db8::1]:7001'], tls: { ca_file: 'ca.pem' } });
  const sentinel = load({ sentinels: ['10.0.0.5:26379'], sentinel_name: 'riskgate' });

  t.same(cluster.store.cluster, [{ host: '10.0.0.1', port: 7000 }, { host: '2001:db8::1', port: 7001 }]);
  t.equal(cluster.store.tls?.caFile, `${PROJECT_ROOT}/ca.pem`, 'TLS files resolve against the config folder');
  t.equal(cluster.store.tls?.rejectUnauthorized, true, 'certificates are verified unless turned off');
  t.same(sentinel.store.sentinels, [{ host: '10.0.0.5', port: 26379 }]);
  t.equal(sentinel.store.sentinelName, 'riskgate');
});

const INVALID: [string, Record<string, unknown>, RegExp][] = [
  ['Cluster and Sentinel together', { cluster: ['10.0.0.1:7000'], sentinels: ['10.0.0.5:26379'], sentinel_name: 'x' },
    /store\.cluster and store\.sentinels are both set/],
  ['Sentinel without a master name', { sentinels: ['10.0.0.5:26379'] }, /store\.sentinels needs store\.sentinel_name/],
  ['Cluster with the memory URL', { url: 'memory', cluster: ['10.0.0.1:7000'] }, /store\.url is memory, but store\.cluster/],
  ['node without a port', { cluster: ['10.0.0.1'] }, /store\.cluster\.0 has an invalid format \(use host:port such as 10\.0\.0\.5:6379\)/],
  ['empty node list', { sentinels: [], sentinel_name: 'x' }, /store\.sentinels must list at least 1 entry/],
  ['unknown TLS key', { url: 'rediss://h', tls: { ca: 'x' } }, /unknown key "ca" in store\.tls/],
];

for (const [name, store, message] of INVALID) {
  t.test(`${name} is rejected`, async (t) => {
    t.throws(() => load(store), { message });
  });
}

t.test('topology description leaves out credentials', async (t) => {
  t.equal(describeTopology({ url: 'rediss://user:secret@redis.internal:6380/2' }), 'rediss://redis.internal:6380/2');
  t.equal(
    describeTopology({ url: 'redis://:secret@x', cluster: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }] }),
    'cluster 10.0.0.1:7000, 10.0.0.2:7000',
  );
  t.equal(
    describeTopology({ url: 'redis://:secret@x', sentinels: [{ host: '10.0.0.5', port: 26379 }], sentinelName: 'riskgate' }),
    'sentinel master riskgate via 10.0.0.5:26379',
  );
});

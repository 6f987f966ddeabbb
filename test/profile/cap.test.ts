import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { Redis } from 'ioredis';
import t from 'tap';

import { GatewayKeys } from '../../src/crypto/keys.js';
import { GeoResolver } from '../../src/geo/resolver.js';
import { AccountRisk } from '../../src/profile/account-risk.js';
import { PROFILE_FEATURES, spellingTag, type LoginFeatures } from '../../src/profile/features.js';
import { profileKey } from '../../src/profile/keys.js';
import { decodeProfile, encodeProfile, recordSuccess } from '../../src/profile/profile.js';
import { resolveClientAddress, TrustedProxies } from '../../src/request/client-ip.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { CounterStore } from '../../src/store/store.js';
import { REDIS_URL, TEST_SECRET } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';

const CAP = 16;
const RETENTION_MS = 90 * 86_400_000;
const DEVICES = 10_000;
const START = Date.UTC(2025, 0, 1);
const keys = new GatewayKeys(TEST_SECRET);
const geo = GeoResolver.open();
const noProxies = new TrustedProxies([]);

function accountRisk(): AccountRisk {
  return new AccountRisk(
    { retentionMs: RETENTION_MS, maxValuesPerFeature: CAP, maxSpeedKmh: 1000, globalMaxValues: 64, syncIntervalMs: 60_000 },
    keys,
  );
}

/** A profile with every feature at its cap, every value at the longest length kept and a spelling tag. */
function largestProfile(seed: string) {
  let profile;
  for (let login = 0; login < CAP; login += 1) {
    const features: LoginFeatures = {};
    for (const feature of PROFILE_FEATURES) {
      features[feature] = `${seed}-${feature}-${login}-`.padEnd(64, 'x');
    }
    profile = recordSuccess(profile, features, { latitude: 51.5142, longitude: -0.0931, accuracyKm: 10 }, START + login, {
      retentionMs: RETENTION_MS,
      maxValuesPerFeature: CAP,
    }, spellingTag(seed, keys));
  }
  return encodeProfile(profile!);
}

const backends: { name: string; open(): Promise<{ store: CounterStore; prefix: string; close(): Promise<void> }> }[] = [
  {
    name: 'memory',
    async open() {
      const store = new MemoryStore({ maxEntries: 100_000 });
      return { store, prefix: 'mem', close: () => store.close() };
    },
  },
  {
    name: 'redis',
    async open() {
      const prefix = `rgt${randomBytes(4).toString('hex')}`;
      const store = new RedisStore({ url: REDIS_URL, timeoutMs: 2000 });
      if (!(await store.waitUntilReady(2000))) throw new Error(`Redis at ${REDIS_URL} is not reachable`);
      return {
        store,
        prefix,
        close: async () => {
          await store.close();
          await deleteKeysWithPrefix(prefix);
        },
      };
    },
  },
];

for (const backend of backends) {
  t.test(`${backend.name}: profile stays at its cap over ${DEVICES} devices`, async (t) => {
    const { store, prefix, close } = await backend.open();
    t.teardown(close);
    const risk = accountRisk();
    const pseudonym = keys.pseudonymize('alice');
    const key = profileKey(prefix, pseudonym);
    let largestFields = 0;

    for (let index = 0; index < DEVICES; index += 1) {
      const now = START + index * 1000;
      const reading = await store.read({ now, counters: [], claims: [], hashes: [key] });
      const client = resolveClientAddress(`198.18.${index >> 8}.${index & 255}`, undefined, noProxies);
      const source = { client, lookup: geo.lookup(client.address, client.private), userAgent: { browser: 'Firefox', os: 'Linux' }, deviceId: `device-${index}`,
        spelling: spellingTag('alice', keys) };
      const assessment = risk.assess(source, reading.hashes[0], now);
      const write = risk.profileWrite(prefix, pseudonym, assessment, `device-${index}`, now);
      await store.write({ now, increments: [], distinct: [], resets: [], hashWrites: [write] });
      largestFields = Math.max(largestFields, Object.keys(write.fields).length);
    }

    const now = START + DEVICES * 1000;
    const stored = (await store.read({ now, counters: [], claims: [], hashes: [key] })).hashes[0];
    const profile = decodeProfile(stored, now, RETENTION_MS);
    t.equal(profile?.successes, DEVICES, 'every login was recorded');
    t.equal(profile?.features.device.length, CAP, 'devices stop at the cap');
    t.equal(profile?.features.network.length, CAP, 'networks stop at the cap');
    t.equal(profile?.features.browser.length, 1, 'the one browser is one entry');
    t.equal(profile?.features.device[0].value, keys.counterDigest('profile.device', [`device-${DEVICES - 1}`]), 'the newest device is first');
    t.notOk(
      profile?.features.device.some((entry) => entry.value === keys.counterDigest('profile.device', ['device-0'])),
      'the least recently seen devices were evicted',
    );
    t.equal(Object.keys(stored ?? {}).length, largestFields, 'the stored hash has no fields beyond the written ones');
    const encoded = JSON.stringify(stored).length;
    t.ok(encoded < 4096, `the encoded profile is ${encoded} characters`);
    if (store instanceof RedisStore && !store.isCluster) {
      const bytes = Number(await (store.client as Redis).memory('USAGE', key, 'SAMPLES', 0));
      t.comment(`Redis MEMORY USAGE after ${DEVICES} devices and networks: ${bytes} bytes`);
      t.ok(bytes < 8192, 'Redis holds it in under 8 kB');
    }
  });
}

t.test('bytes per account profile', async (t) => {
  const fields = largestProfile('largest');
  const encoded = Object.entries(fields).reduce((sum, [field, value]) => sum + field.length + Buffer.byteLength(value), 0);
  t.comment(`largest profile (${CAP} values of 64 characters in each of ${PROFILE_FEATURES.length} features): ${encoded} bytes of fields and values`);
  t.ok(encoded < 14_000, 'the largest profile stays under 14 kB of data');

  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const redis = new Redis(REDIS_URL);
  t.teardown(async () => {
    redis.disconnect();
    await deleteKeysWithPrefix(prefix);
  });
  const key = profileKey(prefix, keys.pseudonymize('largest'));
  await redis.hset(key, fields);
  // SAMPLES 0 reads every field. The default samples five, and which five depends on the
  // server's hash seed, so a profile with a few large fields was measured at half its size.
  const redisBytes = Number(await redis.memory('USAGE', key, 'SAMPLES', 0));
  t.comment(`Redis MEMORY USAGE of the largest profile: ${redisBytes} bytes`);
  t.ok(redisBytes > encoded && redisBytes < 2 * encoded, 'Redis keeps it in about its encoded size');

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const accounts = 2000;
  const store = new MemoryStore({ maxEntries: 100_000 });
  t.teardown(() => store.close());
  gc();
  const before = process.memoryUsage().heapUsed;
  // The profiles are built inside the measured span, so their strings count; what the
  // store does not keep is collected before the second reading.
  for (let index = 0; index < accounts; index += 1) {
    const write = { key: profileKey('mem', keys.pseudonymize(`user${index}`)), fields: largestProfile(`user${index}`), ttlMs: RETENTION_MS };
    await store.write({ now: START, increments: [], distinct: [], resets: [], hashWrites: [write] });
  }
  gc();
  const perAccount = (process.memoryUsage().heapUsed - before) / accounts;
  t.comment(`memory store heap per largest profile: ${Math.round(perAccount)} bytes (Node ${process.version}, ${accounts} accounts)`);
  t.ok(perAccount < 4 * encoded, 'the memory store keeps it within four times its encoded size');
});

// Store-level memory figures, in a process of their own so nothing else shares the heap.
// They are the bytes per counter key in the memory store, the bound under a flood of
// distinct keys, and the bytes per account profile in the memory store and in Redis.
// Run with --expose-gc; the Redis URL argument is optional. Prints one JSON object.
import { Redis } from 'ioredis';

import { GatewayKeys } from '../dist/crypto/keys.js';
import { AccountRisk } from '../dist/profile/account-risk.js';
import { decodeProfile } from '../dist/profile/profile.js';
import { MemoryStore } from '../dist/store/memory.js';
import { RedisStore } from '../dist/store/redis.js';

const [redisUrl, keyCountText] = process.argv.slice(2);
const KEYS = Number(keyCountText ?? 100_000);
const PROFILES = 2_000;
const NOW = Date.UTC(2025, 0, 1);
const WINDOW_MS = 600_000;
const RETENTION_MS = 90 * 86_400_000;
const MAX_VALUES = 16;
const keys = new GatewayKeys('bench-secret-0123456789abcdef0123456789abcdef');

function heapUsed() {
  global.gc();
  return process.memoryUsage().heapUsed;
}

/** Build a counter key shaped like the gateway's: prefix, counter name, a 22-character digest and a kind tag. */
function counterKey(name, index, kindTag = 'a') {
  return `rgbm:c:{${name}:${keys.counterDigest(name, [String(index)])}:${kindTag}}`;
}

async function bytesPerKey(kind) {
  const store = new MemoryStore({ maxEntries: KEYS * 2 });
  const before = heapUsed();
  for (let index = 0; index < KEYS; index += 1) {
    const key = kind === 'count' ? counterKey('failures_per_ip', index, 'f') : counterKey('usernames_per_ip', index, 'd');
    const change = kind === 'count'
      ? { increments: [{ key, windowMs: WINDOW_MS }], distinct: [] }
      : { increments: [], distinct: [{ key, member: keys.pseudonymize(`user${index}`), windowMs: WINDOW_MS }] };
    await store.write({ now: NOW, resets: [], ...change });
  }
  const bytes = (heapUsed() - before) / store.size;
  await store.close();
  return bytes;
}

/**
 * Write ten times the bound in distinct keys and report what the store held after, and
 * the CPU time of one write once the store is full, when every write evicts a key.
 */
async function flood() {
  const maxEntries = Math.max(1000, Math.floor(KEYS / 10));
  const store = new MemoryStore({ maxEntries });
  const flooding = (index) => ({ now: NOW, increments: [{ key: counterKey('attempts_per_ip', index), windowMs: WINDOW_MS }], distinct: [], resets: [] });
  const before = heapUsed();
  for (let index = 0; index < maxEntries; index += 1) await store.write(flooding(index));
  const cpu = process.cpuUsage();
  for (let index = maxEntries; index < maxEntries * 10; index += 1) await store.write(flooding(index));
  const { user, system } = process.cpuUsage(cpu);
  const result = {
    maxEntries,
    keysWritten: maxEntries * 10,
    entriesAfter: store.size,
    heapGrowthMiB: (heapUsed() - before) / 2 ** 20,
    cpuUsPerEvictingWrite: (user + system) / (maxEntries * 9),
  };
  await store.close();
  return result;
}

/**
 * Build the hash fields of one account's profile after `successes` logins. A typical
 * profile has one success. A full one has `MAX_VALUES` successes that each bring new values
 * of every feature, so every feature has as many values as the cap allows.
 */
function profileFields(account, successes) {
  const risk = new AccountRisk({ retentionMs: RETENTION_MS, maxValuesPerFeature: MAX_VALUES, maxSpeedKmh: 1000, globalMaxValues: 512, syncIntervalMs: 60_000 }, keys);
  const pseudonym = keys.pseudonymize(`user${account}@example.com`);
  let profile;
  let write;
  for (let login = 0; login < successes; login += 1) {
    const variant = account * 31 + login;
    const features = {
      browser: ['Firefox', 'Chrome', 'Safari', 'Edge'][variant % 4] + (login > 3 ? ` ${login}` : ''),
      os: ['Linux', 'Windows', 'macOS', 'iOS'][variant % 4] + (login > 3 ? ` ${login}` : ''),
      country: `C${login}`,
      region: `C${login}-R${variant % 9}`,
      city: `C${login}-R${variant % 9}:City of ${variant % 1000}`,
      asn: String(64_500 + (variant % 1000)),
      network: `${81 + login}.${variant % 256}.${(variant >> 8) % 256}.0/24`,
    };
    const assessment = { features, location: { latitude: 48.1, longitude: 11.6, accuracyKm: 20 }, profile, signals: {} };
    write = risk.profileWrite('rgbp', pseudonym, assessment, `device-${variant}`, NOW + login * 60_000);
    profile = decodeProfile(write.fields, NOW + login * 60_000, RETENTION_MS);
  }
  return write;
}

async function memoryProfileBytes(successes) {
  const store = new MemoryStore({ maxEntries: PROFILES * 2 });
  const before = heapUsed();
  for (let account = 0; account < PROFILES; account += 1) {
    const write = profileFields(account, successes);
    await store.write({ now: NOW + 3_600_000, increments: [], distinct: [], resets: [], hashWrites: [write] });
  }
  const bytes = (heapUsed() - before) / store.size;
  await store.close();
  return bytes;
}

async function redisProfileBytes(successes) {
  const store = new RedisStore({ url: redisUrl, timeoutMs: 2000 });
  const client = new Redis(redisUrl);
  try {
    if (!(await store.waitUntilReady(5000))) throw new Error(`Redis at ${redisUrl} did not respond within 5 s`);
    const sample = 200;
    const keysWritten = [];
    for (let account = 0; account < sample; account += 1) {
      const write = profileFields(account, successes);
      await store.write({ now: NOW, increments: [], distinct: [], resets: [], hashWrites: [write] });
      keysWritten.push(write.key);
    }
    let total = 0;
    for (const key of keysWritten) total += Number(await client.memory('USAGE', key, 'SAMPLES', '0'));
    await client.del(...keysWritten);
    return total / sample;
  } finally {
    await store.close();
    client.disconnect();
  }
}

const result = {
  countKeyBytes: await bytesPerKey('count'),
  distinctKeyBytes: await bytesPerKey('distinct'),
  flood: await flood(),
  profileBytes: {
    memory: { typical: await memoryProfileBytes(1), full: await memoryProfileBytes(MAX_VALUES) },
    redis: redisUrl ? { typical: await redisProfileBytes(1), full: await redisProfileBytes(MAX_VALUES) } : null,
  },
  maxValuesPerFeature: MAX_VALUES,
};
process.stdout.write(JSON.stringify(result));
process.exit(0);

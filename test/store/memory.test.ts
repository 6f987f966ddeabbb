import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import t from 'tap';

import { GatewayKeys } from '../../src/crypto/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { WriteRequest } from '../../src/store/store.js';
import { MAX_STORE_TTL_MS } from '../../src/store/ttl.js';
import { TEST_SECRET } from '../helpers/gateway.js';

const WINDOW_MS = 60_000;
// A bucket boundary: the window divides it.
const EDGE = Math.floor(Date.now() / 3_600_000) * 3_600_000;
const keys = new GatewayKeys(TEST_SECRET);
// Enough keys that the Map's spare capacity, which doubles in steps, weighs little per key.
const ENTRIES = 100_000;

/** Build a counter key as the gateway does: prefix, counter name and a keyed digest. */
function counterKey(name: string, part: string): string {
  return `rgt:c:{${name}:${keys.counterDigest(name, [part])}}`;
}

function write(store: MemoryStore, now: number, change: Partial<WriteRequest>): Promise<void> {
  return store.write({ now, increments: [], distinct: [], resets: [], ...change });
}

async function count(store: MemoryStore, now: number, key: string, kind: 'count' | 'distinct' = 'count'): Promise<number> {
  const result = await store.read({ now, counters: [{ key, kind, windowMs: WINDOW_MS }], claims: [] });
  return result.counts[0];
}

/**
 * Heap growth per entry while `fill` runs, after a first call of `fill` on a throwaway
 * store, so the code it compiles on first use is not counted against the entries.
 */
async function heapBytesPer(entries: number, fill: (store: MemoryStore) => Promise<void>): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const warmUp = new MemoryStore({ maxEntries: entries * 2 });
  await fill(warmUp);
  await warmUp.close();

  // A second collection finishes sweeping what the first freed, which heapUsed still
  // counts until then.
  const store = new MemoryStore({ maxEntries: entries * 2 });
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  await fill(store);
  gc();
  gc();
  const perEntry = (process.memoryUsage().heapUsed - before) / store.size;
  await store.close();
  return perEntry;
}

t.test('count keys cost under 250 bytes each', async (t) => {
  const perKey = await heapBytesPer(ENTRIES, async (store) => {
    for (let index = 0; index < ENTRIES; index += 1) {
      await write(store, EDGE, { increments: [{ key: counterKey('failures_per_ip', `198.51.100.${index}`), windowMs: WINDOW_MS }] });
    }
  });

  t.comment(`heap per count key: ${Math.round(perKey)} bytes (Node ${process.version}, ${ENTRIES} keys)`);
  t.ok(perKey < 250, `${Math.round(perKey)} bytes per key`);
});

t.test('distinct keys with one member cost under 250 bytes each', async (t) => {
  const perKey = await heapBytesPer(ENTRIES, async (store) => {
    for (let index = 0; index < ENTRIES; index += 1) {
      const member = keys.pseudonymize(`user${index}`);
      await write(store, EDGE, { distinct: [{ key: counterKey('usernames_per_ip', `198.51.100.${index}`), member, windowMs: WINDOW_MS }] });
    }
  });

  t.comment(`heap per distinct key: ${Math.round(perKey)} bytes (Node ${process.version}, ${ENTRIES} keys)`);
  t.ok(perKey < 250, `${Math.round(perKey)} bytes per key`);
});

t.test('eviction takes the least recently written key', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const key = (index: number) => counterKey('attempts_per_ip', String(index));
  for (let index = 0; index < 1000; index += 1) {
    await write(store, EDGE, { increments: [{ key: key(index), windowMs: WINDOW_MS }] });
  }

  await write(store, EDGE, { increments: [{ key: key(0), windowMs: WINDOW_MS }] });
  await write(store, EDGE, { increments: [{ key: key(1000), windowMs: WINDOW_MS }] });
  await write(store, EDGE, { increments: [{ key: key(1001), windowMs: WINDOW_MS }] });

  t.equal(store.size, 1000);
  t.equal(await count(store, EDGE, key(0)), 2, 'the key written again stays');
  t.equal(await count(store, EDGE, key(1)), 0, 'the oldest key left first');
  t.equal(await count(store, EDGE, key(2)), 0, 'then the next oldest');
  t.equal(await count(store, EDGE, key(3)), 1, 'the rest stay');
  t.equal(await count(store, EDGE, key(1001)), 1, 'the newest key is kept');
});

t.test('a key written during a flood survives it', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const hot = counterKey('failures_per_ip', '203.0.113.7');

  for (let index = 0; index < 30_000; index += 1) {
    if (index % 500 === 0) await write(store, EDGE, { increments: [{ key: hot, windowMs: WINDOW_MS }] });
    await write(store, EDGE, { increments: [{ key: counterKey('attempts_per_ip', `flood-${index}`), windowMs: WINDOW_MS }] });
  }

  t.equal(store.size, 1000, 'the flood filled the store to its bound and no further');
  t.equal(await count(store, EDGE, hot), 60, 'every write to the hot key counted');
  t.equal(await count(store, EDGE, counterKey('attempts_per_ip', 'flood-0')), 0, 'early flood keys were evicted');
  t.equal(await count(store, EDGE, counterKey('attempts_per_ip', 'flood-29999')), 1, 'the last flood key is kept');
});

t.test('a single-use claim outlives a flood of counter keys', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const claim = { key: 'rgt:jti:{used-assertion}', ttlMs: 120_000 };

  const first = await store.read({ now: EDGE, counters: [], claims: [claim] });
  for (let index = 0; index < 5000; index += 1) {
    await write(store, EDGE, { increments: [{ key: counterKey('attempts_per_ip', `flood-${index}`), windowMs: WINDOW_MS }] });
  }
  const replay = await store.read({ now: EDGE + 1000, counters: [], claims: [claim] });
  const expired = await store.read({ now: EDGE + 121_000, counters: [], claims: [claim] });

  t.same(first.claims, ['claimed']);
  t.same(replay.claims, ['used'], 'the claim still holds after the flood evicted counters');
  t.same(expired.claims, ['claimed'], 'it can be claimed again once it expired');
});

t.test('a full claim map refuses new claims until some expire', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());

  for (let index = 0; index < 1000; index += 1) {
    await store.read({ now: EDGE, counters: [], claims: [{ key: `rgt:jti:{${index}}`, ttlMs: 60_000 }] });
  }
  const refused = await store.read({ now: EDGE, counters: [], claims: [{ key: 'rgt:jti:{one-more}', ttlMs: 60_000 }] });
  const later = await store.read({ now: EDGE + 61_000, counters: [], claims: [{ key: 'rgt:jti:{one-more}', ttlMs: 60_000 }] });

  t.same(refused.claims, ['table_full'], 'a full table fails closed and does not call it a replay');
  t.same(later.claims, ['claimed'], 'expired claims make room');
});

t.test('one account cannot fill the claim table', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const claim = (key: string, account: string, now = EDGE) =>
    store.read({ now, counters: [], claims: [{ key: `rgt:jti:{${key}}`, ttlMs: 60_000, account }] });

  const outcomes: string[] = [];
  for (let index = 0; index < 1000; index += 1) {
    outcomes.push((await claim(`flood-${index}`, 'mallory')).claims[0]);
  }
  const victim = await claim('genuine', 'alice');
  const replayed = await claim('flood-0', 'mallory');
  const later = await claim('flood-after-expiry', 'mallory', EDGE + 61_000);

  t.same(outcomes.slice(0, 5), ['claimed', 'claimed', 'claimed', 'claimed', 'claimed'], 'the first five claims pass');
  t.ok(outcomes.slice(5).every((outcome) => outcome === 'account_limit'), 'every later claim hits the account limit');
  t.same(victim.claims, ['claimed'], "another account's claim still passes");
  t.same(replayed.claims, ['used'], 'a replay is still reported as used');
  t.same(later.claims, ['claimed'], 'the account may claim again once its claims expired');
  store.sweep(EDGE + 61_000);
  t.equal(store.size, 1, 'a sweep keeps only the live claim');
});

t.test('claim TTLs become whole milliseconds within bounds', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const claim = (key: string, ttlMs: number, now: number) =>
    store.read({ now, counters: [], claims: [{ key: `rgt:jti:{${key}}`, ttlMs }] });

  await claim('fraction', 1000.2, EDGE);
  await claim('huge', 1e20, EDGE);
  await claim('infinite', Infinity, EDGE);

  t.same((await claim('fraction', 1000, EDGE + 1000)).claims, ['used'], 'a fraction rounds up');
  t.same((await claim('fraction', 1000, EDGE + 1001)).claims, ['claimed'], 'by less than 1 ms');
  const farFuture = EDGE + MAX_STORE_TTL_MS;
  t.same((await claim('huge', 1000, farFuture - 1)).claims, ['used'], 'a huge TTL holds up to the maximum');
  t.same((await claim('huge', 1000, farFuture)).claims, ['claimed'], 'and no longer');
  t.same((await claim('infinite', 1000, farFuture)).claims, ['claimed'], 'Infinity is capped as well');
  await t.rejects(claim('nan', NaN, EDGE), { code: 'RG_ERR_STORE_REQUEST_INVALID' }, 'NaN is rejected');
});

t.test('distinct members count once across buckets', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  const key = counterKey('usernames_per_ip', '203.0.113.8');
  const add = (now: number, member: string) => write(store, now, { distinct: [{ key, member, windowMs: WINDOW_MS }] });
  const alice = keys.pseudonymize('alice');
  const bob = keys.pseudonymize('bob');

  await add(EDGE, alice);
  await add(EDGE, alice);
  await add(EDGE, 'not-a-pseudonym');
  await add(EDGE, 'not-a-pseudonym');
  t.equal(await count(store, EDGE, key, 'distinct'), 2, 'repeats of a pseudonym and of plain text count once');

  await add(EDGE + WINDOW_MS, alice);
  await add(EDGE + WINDOW_MS, bob);
  t.equal(await count(store, EDGE + WINDOW_MS, key, 'distinct'), 3, 'a member in both buckets counts once');
  t.equal(await count(store, EDGE + WINDOW_MS + WINDOW_MS / 2, key, 'distinct'), 3, 'half the previous bucket still overlaps');

  await add(EDGE + 3 * WINDOW_MS, bob);
  t.equal(await count(store, EDGE + 3 * WINDOW_MS, key, 'distinct'), 1, 'buckets two windows old are gone');
});

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import t from 'tap';

import { REDIS_URL } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { CounterRead, CounterStore, WriteRequest } from '../../src/store/store.js';

const WINDOW_MS = 60_000;
// A bucket boundary: every window in these tests divides it.
const EDGE = Math.floor(Date.now() / 3_600_000) * 3_600_000;

interface Backend {
  name: string;
  open(): Promise<{ store: CounterStore; prefix: string; cleanup(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'memory',
    async open() {
      const store = new MemoryStore({ maxEntries: 10_000 });
      return { store, prefix: 'mem', cleanup: () => store.close() };
    },
  },
  {
    name: 'redis',
    async open() {
      const prefix = `rgt${randomBytes(4).toString('hex')}`;
      const store = new RedisStore({ url: REDIS_URL, timeoutMs: 500 });
      if (!(await store.waitUntilReady(2000))) throw new Error(`Redis at ${REDIS_URL} is not reachable`);
      return {
        store,
        prefix,
        cleanup: async () => {
          await store.close();
          await deleteKeysWithPrefix(prefix);
        },
      };
    },
  },
];

const NO_CHANGES = { increments: [], distinct: [], resets: [] };

function counter(key: string, kind: CounterRead['kind'] = 'count', windowMs = WINDOW_MS): CounterRead {
  return { key, kind, windowMs };
}

async function count(store: CounterStore, now: number, read: CounterRead): Promise<number> {
  const result = await store.read({ now, counters: [read], claims: [] });
  return result.counts[0];
}

async function increment(store: CounterStore, now: number, key: string, times = 1): Promise<void> {
  for (let index = 0; index < times; index += 1) {
    await store.write({ now, ...NO_CHANGES, increments: [{ key, windowMs: WINDOW_MS }] });
  }
}

async function addMember(store: CounterStore, now: number, key: string, member: string): Promise<void> {
  const write: WriteRequest = { now, ...NO_CHANGES, distinct: [{ key, member, windowMs: WINDOW_MS }] };
  await store.write(write);
}

for (const backend of BACKENDS) {
  t.test(`${backend.name} store contract`, async (t) => {
    const { store, prefix, cleanup } = await backend.open();
    t.teardown(cleanup);
    const key = (name: string) => `${prefix}:c:{${name}}`;

    t.test('unknown counter reads zero', async (t) => {
      t.equal(await count(store, EDGE, counter(key('never-written'))), 0);
      t.equal(await count(store, EDGE, counter(key('never-written'), 'distinct')), 0);
    });

    t.test('increments count', async (t) => {
      await increment(store, EDGE + 1000, key('count'), 3);
      t.equal(await count(store, EDGE + 2000, counter(key('count'))), 3);
    });

    t.test('one read answers every counter in order', async (t) => {
      await increment(store, EDGE, key('order-a'), 1);
      await increment(store, EDGE, key('order-b'), 2);
      const result = await store.read({
        now: EDGE + 10,
        counters: [counter(key('order-b')), counter(key('order-none')), counter(key('order-a'))],
        claims: [],
      });
      t.same(result.counts, [2, 0, 1]);
      t.same(result.claims, []);
      t.same(result.values, []);
    });

    t.test('sliding window has no doubled budget at the edge', async (t) => {
      const name = key('edge');
      // Ten attempts in the last second of one bucket...
      await increment(store, EDGE - 1000, name, 10);
      t.equal(await count(store, EDGE - 1, counter(name)), 10, 'all ten in the last millisecond of the bucket');
      // ...still count in full a moment into the next bucket, so ten more are not free.
      t.equal(await count(store, EDGE, counter(name)), 10, 'at the edge the previous bucket counts fully');
      t.equal(await count(store, EDGE + 1000, counter(name)), 10, 'one second later: 10 * 59/60 rounds to 10');
      t.equal(await count(store, EDGE + WINDOW_MS / 2, counter(name)), 5, 'half a window later half remains');
      t.equal(await count(store, EDGE + WINDOW_MS - 1, counter(name)), 0, 'a window later nothing remains');
      t.equal(await count(store, EDGE + 2 * WINDOW_MS, counter(name)), 0, 'two buckets on nothing remains');
    });

    t.test('sliding window adds both buckets', async (t) => {
      const name = key('both');
      await increment(store, EDGE - 30_000, name, 4);
      await increment(store, EDGE + 15_000, name, 3);
      // 3 + 4 * (1 - 15/60) = 6
      t.equal(await count(store, EDGE + 15_000, counter(name)), 6);
    });

    t.test('distinct counts each member once', async (t) => {
      const name = key('distinct');
      await addMember(store, EDGE + 10, name, 'alice');
      await addMember(store, EDGE + 20, name, 'alice');
      await addMember(store, EDGE + 30, name, 'bob');
      t.equal(await count(store, EDGE + 40, counter(name, 'distinct')), 2);
    });

    t.test('distinct counts a member once across buckets', async (t) => {
      const name = key('distinct-edge');
      await addMember(store, EDGE - 100, name, 'alice');
      await addMember(store, EDGE - 90, name, 'bob');
      await addMember(store, EDGE + 100, name, 'alice');
      t.equal(await count(store, EDGE + 100, counter(name, 'distinct')), 2, 'alice in both buckets counts once');
      t.equal(await count(store, EDGE + WINDOW_MS / 2, counter(name, 'distinct')), 2, 'bob is half gone: 1 + 0.5 rounds to 2');
      t.equal(await count(store, EDGE + WINDOW_MS - 1, counter(name, 'distinct')), 1, 'only alice remains');
    });

    t.test('distinct counts many members', async (t) => {
      const name = key('distinct-many');
      for (let index = 0; index < 40; index += 1) await addMember(store, EDGE + index, name, `user${index}`);
      t.equal(await count(store, EDGE + 100, counter(name, 'distinct')), 40);
    });

    t.test('reset clears both buckets', async (t) => {
      const name = key('reset');
      await increment(store, EDGE - 1000, name, 2);
      await increment(store, EDGE + 1000, name, 3);
      t.equal(await count(store, EDGE + 2000, counter(name)), 5, 'before the reset');
      await store.write({ now: EDGE + 2000, ...NO_CHANGES, resets: [{ key: name, windowMs: WINDOW_MS }] });
      t.equal(await count(store, EDGE + 2000, counter(name)), 0, 'after the reset');
      await increment(store, EDGE + 3000, name, 1);
      t.equal(await count(store, EDGE + 3000, counter(name)), 1, 'counting starts again');
    });

    t.test('claims are single use and expire', async (t) => {
      const claim = { key: `${prefix}:jti:{${randomBytes(6).toString('hex')}}`, ttlMs: 100 };
      const now = Date.now();
      const first = await store.read({ now, counters: [], claims: [claim] });
      const second = await store.read({ now: now + 10, counters: [], claims: [claim] });
      t.same(first.claims, ['claimed'], 'the first claim wins');
      t.same(second.claims, ['used'], 'the second claim loses');

      // Redis expires by its own clock and the memory store by `now`, so move both.
      await sleep(150);
      const later = await store.read({ now: now + 150, counters: [], claims: [claim] });
      t.same(later.claims, ['claimed'], 'after the TTL the value can be claimed again');
    });

    t.test('claims of one read are independent', async (t) => {
      const taken = { key: `${prefix}:jti:{taken}`, ttlMs: 60_000 };
      const fresh = { key: `${prefix}:jti:{fresh}`, ttlMs: 60_000 };
      await store.read({ now: Date.now(), counters: [], claims: [taken] });
      const result = await store.read({ now: Date.now(), counters: [counter(key('none'))], claims: [taken, fresh] });
      t.same(result.claims, ['used', 'claimed']);
      t.same(result.counts, [0]);
    });

    t.test('lookups read values set and deleted', async (t) => {
      const present = `${prefix}:block:{present}`;
      const removed = `${prefix}:block:{removed}`;
      const short = `${prefix}:block:{short}`;
      await store.setValue(present, 'manual block', 60_000);
      await store.setValue(removed, 'gone soon', 60_000);
      await store.setValue(short, 'brief', 50);
      await store.deleteValue(removed);
      await sleep(100);

      const result = await store.read({
        now: Date.now(),
        counters: [],
        claims: [],
        lookups: [present, removed, short, `${prefix}:block:{absent}`],
      });
      t.same(result.values, ['manual block', null, null, null]);
    });

    t.test('list edits replace, drop expired records and remove', async (t) => {
      const list = `${prefix}:m:{list}`;
      const now = Date.now();
      const record = (id: string, lifeMs: number, note: string) =>
        JSON.stringify({ id, expires_at: new Date(now + lifeMs).toISOString(), note });
      const edit = (id: string, text?: string, at = now) =>
        store.editList({ key: list, id, record: text, now: at, ttlMs: text ? 60_000 : 0 });
      const ids = async (at: number) => {
        const [text] = (await store.read({ now: at, counters: [], claims: [], lookups: [list] })).values;
        return text === null ? null : (JSON.parse(text) as { id: string }[]).map((entry) => entry.id);
      };

      t.equal(await edit('a', record('a', 60_000, 'first')), null, 'a new record replaces nothing');
      await edit('b', record('b', 10, 'brief'));
      const replaced = await edit('a', record('a', 60_000, 'second'), now + 20);
      t.equal(JSON.parse(replaced!).note, 'first', 'a replacement returns the record it replaced');
      t.same(await ids(now + 20), ['a'], 'the expired record is dropped');

      await Promise.all(Array.from({ length: 50 }, (_, index) => edit(`p${index}`, record(`p${index}`, 60_000, 'parallel'))));
      t.equal((await ids(now + 20))?.length, 51, 'parallel edits all stay');

      t.equal(JSON.parse((await edit('a'))!).note, 'second', 'a removal returns the record it removed');
      t.equal(await edit('a'), null, 'removing it again finds nothing');
      await Promise.all(Array.from({ length: 50 }, (_, index) => edit(`p${index}`)));
      t.same(await ids(now + 20), null, 'the list is gone with its last record');
    });

    t.test('erase removes keys by prefix only', async (t) => {
      const now = EDGE + 5000;
      await increment(store, now, `${prefix}:c:{erase:alice:1}`, 2);
      await addMember(store, now, `${prefix}:c:{erase:alice:2}`, 'x');
      await increment(store, now, `${prefix}:c:{erase:bob:1}`, 1);

      const removed = await store.erase([`${prefix}:c:{erase:alice:`]);

      t.equal(removed, 2, 'both of alice\'s counters are gone');
      t.equal(await count(store, now, counter(`${prefix}:c:{erase:alice:1}`)), 0);
      t.equal(await count(store, now, counter(`${prefix}:c:{erase:alice:2}`, 'distinct')), 0);
      t.equal(await count(store, now, counter(`${prefix}:c:{erase:bob:1}`)), 1, "bob's counter stays");
      t.equal(await store.erase([`${prefix}:c:{erase:nobody:`]), 0, 'erasing nothing removes nothing');
    });

    t.test('round trips count reads and writes', async (t) => {
      const before = store.roundTrips;
      await store.read({ now: EDGE, counters: [counter(key('rt-a')), counter(key('rt-b'), 'distinct')], claims: [] });
      await store.write({
        now: EDGE,
        increments: [{ key: key('rt-a'), windowMs: WINDOW_MS }],
        distinct: [{ key: key('rt-b'), member: 'm', windowMs: WINDOW_MS }],
        resets: [{ key: key('rt-c'), windowMs: WINDOW_MS }],
      });
      t.equal(store.roundTrips - before, 2, 'one per call, whatever it carries');
    });

    t.test('pending marks count the other logins', async (t) => {
      const marks = key('pending-a');
      const mark = (id: string, now = Date.now()) =>
        store.read({ now, counters: [], claims: [], pending: [{ key: marks, id, ttlMs: 5000 }] });

      t.same((await mark('login-1')).pending, [0], 'a login never counts itself');
      t.same((await mark('login-2')).pending, [1], 'the second sees the first');
      t.same((await mark('login-3')).pending, [2], 'the third sees both');

      await store.write({ now: Date.now(), ...NO_CHANGES, pendingReleases: [{ key: marks, id: 'login-1' }] });
      t.same((await mark('login-4')).pending, [2], 'a released login no longer counts');

      t.same((await mark('login-5', Date.now() + 6000)).pending, [0], 'marks lapse after their time');
    });

    t.test('pending marks ride with their counter', async (t) => {
      const counted = key('fused-a');
      const accounts = key('fused-d');
      const now = Date.now();
      const read = (id: string, member: string) => store.read({
        now,
        counters: [counter(counted), counter(accounts, 'distinct')],
        claims: [],
        pending: [
          { key: `${counted}:w`, id, ttlMs: 5000, counterKey: counted },
          { key: `${accounts}:w`, id, member, ttlMs: 5000, counterKey: accounts },
        ],
      });

      const first = await read('l1', 'alice');
      t.same(first.counts, [0, 0], 'nothing counted yet');
      t.same(first.pending, [0, 0], 'and no other login pending');
      const second = await read('l2', 'bob');
      t.same(second.pending, [1, 1], 'the second login sees the first on both counters');

      await store.write({
        now,
        increments: [{ key: counted, windowMs: WINDOW_MS }],
        distinct: [{ key: accounts, member: 'alice', windowMs: WINDOW_MS }],
        resets: [],
        pendingReleases: [
          { key: `${counted}:w`, id: 'l1', counterKey: counted },
          { key: `${accounts}:w`, id: 'l1', member: 'alice', counterKey: accounts },
        ],
      });
      const third = await read('l3', 'carol');
      t.same(third.counts, [1, 1], 'the first login is counted');
      t.same(third.pending, [1, 1], 'and no longer pending: only bob is, on both counters');
    });

    t.test('pending marks count each other account once', async (t) => {
      const marks = key('pending-d');
      const now = Date.now();
      const mark = (id: string, member: string) =>
        store.read({ now, counters: [], claims: [], pending: [{ key: marks, id, member, ttlMs: 5000 }] });

      t.same((await mark('l1', 'alice')).pending, [0]);
      t.same((await mark('l2', 'alice')).pending, [0], 'her own second login is not another account');
      t.same((await mark('l3', 'bob')).pending, [1], 'alice once, however many of her logins are pending');
      t.same((await mark('l4', 'carol')).pending, [2]);

      await store.write({ now, ...NO_CHANGES, pendingReleases: [{ key: marks, id: 'l1', member: 'alice' }] });
      t.same((await mark('l5', 'dave')).pending, [3], "alice's other login still counts");
      await store.write({ now, ...NO_CHANGES, pendingReleases: [{ key: marks, id: 'l2', member: 'alice' }] });
      t.same((await mark('l6', 'erin')).pending, [3], 'bob, carol and dave once alice has no login pending');
    });
  });
}

t.test('memory store stays within maxEntries', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());

  for (let index = 0; index < 20_000; index += 1) {
    await store.write({ now: EDGE, ...NO_CHANGES, increments: [{ key: `flood:${index}`, windowMs: WINDOW_MS }] });
  }

  t.equal(store.size, 1000, 'the flood filled the store to its bound and no further');
  t.equal(await count(store, EDGE, counter('flood:19999')), 1, 'the newest key is kept');
  t.equal(await count(store, EDGE, counter('flood:0')), 0, 'the oldest key was evicted');
});

t.test('memory store bounds distinct members', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());

  for (let index = 0; index < 1000; index += 1) await addMember(store, EDGE, 'wide', `member${index}`);

  t.equal(await count(store, EDGE, counter('wide', 'distinct')), 256, 'the count stops at the per-bucket bound');
});

t.test('memory store sweep removes expired entries', async (t) => {
  const store = new MemoryStore({ maxEntries: 1000 });
  t.teardown(() => store.close());
  await increment(store, EDGE, 'old', 1);
  await increment(store, EDGE + 3 * WINDOW_MS, 'new', 1);

  store.sweep(EDGE + 2 * WINDOW_MS + 1);

  t.equal(store.size, 1, 'only the unexpired entry is left');
  t.equal(await count(store, EDGE + 3 * WINDOW_MS, counter('new')), 1);
});

import { Cluster, ReplyError, type ChainableCommander, type RedisOptions } from 'ioredis';

import { RiskgateError } from '../errors.js';
import { clusterSlot } from './cluster-slot.js';
import { isRequestErrorReply } from './request-errors.js';
import { ConnectionErrors, createRedisClient, describeTopology, type RedisClient, type RedisTopology } from './redis-client.js';
import {
  bucketOf,
  elapsedFraction,
  slidingCount,
  slidingDistinct,
  type ClaimOutcome,
  type CounterStore,
  type ListEdit,
  type PendingMark,
  type ReadRequest,
  type ReadResult,
  type WriteRequest,
} from './store.js';
import { storeTtlMs } from './ttl.js';

/** Lateness of the store timeout's timer, in ms, past which the process counts as having stalled. */
const STALL_MS = 20;

/**
 * Times a store call's timeout starts again after the process stalled. Each stall that
 * delays the timer adds at most one timeout, so a call still ends within a bounded time.
 */
const MAX_STALL_EXTENSIONS = 3;

// Increment a bucket and give it its lifetime on creation, atomically, so that no bucket
// is ever left without an expiry.
const INCREMENT_SCRIPT = `
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value`;

const DISTINCT_ADD_SCRIPT = `
redis.call('PFADD', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1`;

// Profiles and counter indexes get their new fields and their expiry in one step, for the
// same reason: a crash between two commands must not leave a key that never expires.
const HASH_WRITE_SCRIPT = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

// ARGV: the lifetime, the field to compare, its expected value ('' for absent), then the
// fields and values to set.
const HASH_WRITE_IF_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[2])
if current == false then current = '' end
if current ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

const SET_ADD_SCRIPT = `
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

// A list edit (see ListEdit) runs inside Redis, so no other gateway's edit can come between
// its read and its write. ARGV contains the id, the record or '', the time as ISO 8601 text and
// the lifetime in milliseconds. ISO 8601 texts of one format sort in time order, so the
// script compares them with `>`.
const LIST_EDIT_SCRIPT = `
local remaining = {}
local previous = false
local text = redis.call('GET', KEYS[1])
if text then
  local ok, records = pcall(cjson.decode, text)
  if ok and type(records) == 'table' then
    for _, record in ipairs(records) do
      if type(record) == 'table' and type(record.expires_at) == 'string' and record.expires_at > ARGV[3] then
        if record.id == ARGV[1] then previous = cjson.encode(record) else remaining[#remaining + 1] = record end
      end
    end
  end
end
if ARGV[2] ~= '' then remaining[#remaining + 1] = cjson.decode(ARGV[2]) end
if #remaining == 0 then
  redis.call('DEL', KEYS[1])
else
  local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[4]))
  if ttl > 0 then
    redis.call('SET', KEYS[1], cjson.encode(remaining), 'PX', ttl)
  else
    redis.call('SET', KEYS[1], cjson.encode(remaining))
  end
end
return previous`;

// Place a login's pending mark and count the others on its key (see PendingMark), as Lua
// that ends a script. The key is KEYS[k], and ARGV[a] to ARGV[a + 3] contain the time, the
// mark's expiry, the mark's entry and the member or ''. Lapsed marks are pruned first, so a
// crashed gateway's marks stop counting at their expiry. An entry is `<login id>|<member>`
// on distinct-username counters, which count other members, read from at most the first 256
// entries, far above the default rules' limits of 5 to 30 accounts.
function markLua(k: number, a: number): string {
  const key = `KEYS[${k}]`;
  const [now, expiry, entry, member] = [a, a + 1, a + 2, a + 3].map((n) => `ARGV[${n}]`);
  return `
redis.call('ZREMRANGEBYSCORE', ${key}, '-inf', ${now})
redis.call('ZADD', ${key}, ${expiry}, ${entry})
local ttl = tonumber(${expiry}) - tonumber(${now})
if redis.call('PTTL', ${key}) < ttl then redis.call('PEXPIRE', ${key}, ttl) end
local others = 0
if ${member} == '' then
  others = redis.call('ZCARD', ${key}) - 1
else
  local seen = {}
  for _, item in ipairs(redis.call('ZRANGE', ${key}, 0, 255)) do
    local separator = string.find(item, '|', 1, true)
    if separator then
      local name = string.sub(item, separator + 1)
      if name ~= ${member} and not seen[name] then
        seen[name] = true
        others = others + 1
      end
    end
  end
end`;
}

const PENDING_MARK_SCRIPT = `${markLua(1, 1)}
return others`;

// A counter's read with its pending mark, in one call: both buckets are in the mark's slot.
// KEYS are the current bucket, the previous one and the marks. A count returns both buckets'
// values, a distinct count the current bucket's and the union's, and both then the other logins.
const COUNT_MARK_SCRIPT = `
local buckets = redis.call('MGET', KEYS[1], KEYS[2])${markLua(3, 1)}
return {buckets[1], buckets[2], others}`;

const DISTINCT_MARK_SCRIPT = `
local current = redis.call('PFCOUNT', KEYS[1])
local union = redis.call('PFCOUNT', KEYS[1], KEYS[2])${markLua(3, 1)}
return {current, union, others}`;

// An increment or distinct add with the release of the login's mark on the same counter,
// in one call, so no read can come between them. KEYS are the bucket and the marks; ARGV
// the bucket's lifetime, the mark's entry and, for a distinct add, the member.
const INCREMENT_RELEASE_SCRIPT = `
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return value`;

const DISTINCT_ADD_RELEASE_SCRIPT = `
redis.call('PFADD', KEYS[1], ARGV[3])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1`;

const SCRIPTS = {
  rgIncrement: INCREMENT_SCRIPT,
  rgDistinctAdd: DISTINCT_ADD_SCRIPT,
  rgHashWrite: HASH_WRITE_SCRIPT,
  rgHashWriteIf: HASH_WRITE_IF_SCRIPT,
  rgSetAdd: SET_ADD_SCRIPT,
  rgListEdit: LIST_EDIT_SCRIPT,
  rgPendingMark: PENDING_MARK_SCRIPT,
  rgCountMark: COUNT_MARK_SCRIPT,
  rgDistinctMark: DISTINCT_MARK_SCRIPT,
  rgIncrementRelease: INCREMENT_RELEASE_SCRIPT,
  rgDistinctAddRelease: DISTINCT_ADD_RELEASE_SCRIPT,
};

/** Number of keys each script takes, when more than one. */
const SCRIPT_KEYS: Partial<Record<string, number>> = { rgCountMark: 3, rgDistinctMark: 3, rgIncrementRelease: 2, rgDistinctAddRelease: 2 };

type ScriptName = keyof typeof SCRIPTS;

/** One command of a round trip: the key that places it on a Cluster node, and how to queue it. */
interface Operation {
  key: string;
  queue: (pipeline: ChainableCommander) => void;
}

export interface RedisStoreOptions extends Partial<Omit<RedisTopology, 'url'>> {
  url: string;
  timeoutMs: number;
  redisOptions?: RedisOptions;
}

/**
 * Counters in Redis, shared by every gateway that points at the same server, Sentinel
 * master or Cluster. Each bucket is its own key `<counter key>:<bucket index>`; both buckets
 * of a counter share the hash tag in the counter key, so they live in one Cluster slot.
 *
 * One decision's keys belong to several entities (address, account, prefix) and so to
 * several slots. Against a Cluster, a round trip therefore sends one pipeline to each master
 * that owns some of its keys, all at once, so it still costs one network round trip of
 * latency. Tagging all of a decision's keys into one slot would not work: a counter is
 * shared by every decision that touches its entity, so its key cannot depend on the others.
 */
export class RedisStore implements CounterStore {
  readonly kind = 'redis';
  readonly client: RedisClient;
  private readonly timeoutMs: number;
  readonly connectionErrors: ConnectionErrors;
  /** Address of the store without credentials, for the start-up line. */
  readonly address: string;
  private trips = 0;
  private pipelines = 0;

  constructor(options: RedisStoreOptions) {
    this.timeoutMs = options.timeoutMs;
    this.address = describeTopology(options);
    const client = createRedisClient(options, options.timeoutMs, options.redisOptions);
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      client.defineCommand(name, { numberOfKeys: SCRIPT_KEYS[name] ?? 1, lua });
    }
    this.connectionErrors = new ConnectionErrors(client);
    this.client = client;
  }

  get roundTrips(): number {
    return this.trips;
  }

  /** Pipelines sent so far: one per round trip, or one per Cluster master a round trip touched. */
  get pipelinesSent(): number {
    return this.pipelines;
  }

  get isCluster(): boolean {
    return this.client instanceof Cluster;
  }

  /** Wait until the connection is ready for commands, at most `timeoutMs`; false if it is not. */
  /**
   * Return the database a standalone server's connection uses, as CLIENT INFO (Redis 6.2+)
   * reports it, or undefined for a Cluster or when the server does not report it. A SELECT of a
   * database the server lacks fails, and the connection then stays on database 0.
   */
  async selectedDatabase(): Promise<{ wanted: number; actual: number } | undefined> {
    if (this.client instanceof Cluster) return undefined;
    try {
      const info = String(await this.bounded(this.client.call('CLIENT', 'INFO')));
      const actual = Number(/(?:^|\s)db=(\d+)/.exec(info)?.[1]);
      return Number.isInteger(actual) ? { wanted: this.client.options.db ?? 0, actual } : undefined;
    } catch {
      return undefined;
    }
  }

  waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ready: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ready);
      };
      const onReady = () => finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.client.on('ready', onReady);
    });
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    const operations: Operation[] = [];
    const now = request.now;

    // A mark that belongs to a counter is placed in the same call as the counter's read.
    const marks = request.pending ?? [];
    const fused = new Map<string, number>();
    marks.forEach((mark, index) => {
      if (mark.counterKey !== undefined) fused.set(mark.counterKey, index);
    });
    const markArgs = (mark: PendingMark) => [now, now + storeTtlMs(mark.ttlMs), pendingEntry(mark), mark.member ?? ''];

    for (const counter of request.counters) {
      const bucket = bucketOf(now, counter.windowMs);
      const current = `${counter.key}:${bucket}`;
      const previous = `${counter.key}:${bucket - 1}`;
      const markIndex = fused.get(counter.key);
      if (markIndex !== undefined) {
        const mark = marks[markIndex];
        operations.push(script(counter.kind === 'count' ? 'rgCountMark' : 'rgDistinctMark', current, previous, mark.key, ...markArgs(mark)));
      } else if (counter.kind === 'count') {
        operations.push({ key: current, queue: (pipeline) => pipeline.mget(current, previous) });
      } else {
        operations.push({ key: current, queue: (pipeline) => pipeline.pfcount(current) });
        operations.push({ key: current, queue: (pipeline) => pipeline.pfcount(current, previous) });
      }
    }
    for (const claim of request.claims) {
      const ttlMs = storeTtlMs(claim.ttlMs);
      operations.push({ key: claim.key, queue: (pipeline) => pipeline.set(claim.key, '1', 'PX', ttlMs, 'NX') });
    }
    for (const key of request.lookups ?? []) {
      operations.push({ key, queue: (pipeline) => pipeline.get(key) });
    }
    for (const key of request.hashes ?? []) {
      operations.push({ key, queue: (pipeline) => pipeline.hgetall(key) });
    }
    for (const key of request.sets ?? []) {
      operations.push({ key, queue: (pipeline) => pipeline.smembers(key) });
    }
    const counterKeys = new Set(request.counters.map((counter) => counter.key));
    for (const mark of marks) {
      if (mark.counterKey === undefined || !counterKeys.has(mark.counterKey)) {
        operations.push(script('rgPendingMark', mark.key, ...markArgs(mark)));
      }
    }

    const replies = await this.execute(operations);
    let index = 0;
    const pending: number[] = marks.map(() => 0);
    const counts = request.counters.map((counter) => {
      const fraction = elapsedFraction(now, counter.windowMs);
      const markIndex = fused.get(counter.key);
      if (markIndex !== undefined) {
        const [first, second, others] = replies[index++] as [string | number | null, string | number | null, number];
        pending[markIndex] = Number(others);
        return counter.kind === 'count'
          ? slidingCount(Number(first ?? 0), Number(second ?? 0), fraction)
          : slidingDistinct(Number(first), Number(second), fraction);
      }
      if (counter.kind === 'count') {
        const [current, previous] = replies[index++] as (string | null)[];
        return slidingCount(Number(current ?? 0), Number(previous ?? 0), fraction);
      }
      const current = replies[index++] as number;
      const union = replies[index++] as number;
      return slidingDistinct(current, union, fraction);
    });
    const claims = request.claims.map((): ClaimOutcome => (replies[index++] === 'OK' ? 'claimed' : 'used'));
    const values = (request.lookups ?? []).map(() => (replies[index++] as string | null) ?? null);
    const hashes = (request.hashes ?? []).map(() => {
      const fields = replies[index++] as Record<string, string>;
      return Object.keys(fields).length > 0 ? fields : null;
    });
    const sets = (request.sets ?? []).map(() => replies[index++] as string[]);
    marks.forEach((mark, markIndex) => {
      if (mark.counterKey === undefined || !counterKeys.has(mark.counterKey)) pending[markIndex] = Number(replies[index++]);
    });

    return { counts, claims, values, hashes, sets, pending };
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    const px = storeTtlMs(ttlMs);
    await this.execute([{ key, queue: (pipeline) => pipeline.set(key, value, 'PX', px) }]);
  }

  async deleteValue(key: string): Promise<void> {
    await this.execute([{ key, queue: (pipeline) => pipeline.del(key) }]);
  }

  async editList(edit: ListEdit): Promise<string | null> {
    const now = new Date(edit.now).toISOString();
    const ttlMs = edit.ttlMs > 0 ? storeTtlMs(edit.ttlMs) : 0;
    const [previous] = await this.execute([script('rgListEdit', edit.key, edit.id, edit.record ?? '', now, ttlMs)]);
    return typeof previous === 'string' ? previous : null;
  }

  async write(request: WriteRequest): Promise<void> {
    const operations: Operation[] = [];
    const now = request.now;

    // A release that belongs to an increment or distinct add is sent in the same call.
    const releases = new Map((request.pendingReleases ?? []).filter((release) => release.counterKey !== undefined)
      .map((release) => [release.counterKey as string, release]));
    const released = new Set<Omit<PendingMark, 'ttlMs'>>();
    for (const increment of request.increments) {
      const bucket = bucketOf(now, increment.windowMs);
      const release = releases.get(increment.key);
      if (release && !released.has(release)) {
        released.add(release);
        operations.push(script('rgIncrementRelease', `${increment.key}:${bucket}`, release.key, storeTtlMs(2 * increment.windowMs), pendingEntry(release)));
      } else {
        operations.push(script('rgIncrement', `${increment.key}:${bucket}`, storeTtlMs(2 * increment.windowMs)));
      }
    }
    for (const addition of request.distinct) {
      const bucket = bucketOf(now, addition.windowMs);
      const release = releases.get(addition.key);
      if (release && !released.has(release)) {
        released.add(release);
        operations.push(script('rgDistinctAddRelease', `${addition.key}:${bucket}`, release.key,
          storeTtlMs(2 * addition.windowMs), pendingEntry(release), addition.member));
      } else {
        operations.push(script('rgDistinctAdd', `${addition.key}:${bucket}`, storeTtlMs(2 * addition.windowMs), addition.member));
      }
    }
    for (const reset of request.resets) {
      const bucket = bucketOf(now, reset.windowMs);
      const keys = [`${reset.key}:${bucket}`, `${reset.key}:${bucket - 1}`];
      operations.push({ key: keys[0], queue: (pipeline) => pipeline.del(...keys) });
    }
    for (const write of request.hashWrites ?? []) {
      const fields = Object.entries(write.fields).flat();
      if (fields.length === 0) continue;
      operations.push(write.ifField
        ? script('rgHashWriteIf', write.key, storeTtlMs(write.ttlMs), write.ifField.field, write.ifField.value, ...fields)
        : script('rgHashWrite', write.key, storeTtlMs(write.ttlMs), ...fields));
    }
    for (const increment of request.hashIncrements ?? []) {
      operations.push({ key: increment.key, queue: (pipeline) => pipeline.hincrby(increment.key, increment.field, increment.by) });
    }
    for (const removal of request.hashFieldDeletes ?? []) {
      if (removal.fields.length > 0) {
        operations.push({ key: removal.key, queue: (pipeline) => pipeline.hdel(removal.key, ...removal.fields) });
      }
    }
    for (const addition of request.setAdds ?? []) {
      if (addition.members.length > 0) operations.push(script('rgSetAdd', addition.key, storeTtlMs(addition.ttlMs), ...addition.members));
    }
    // One DEL per key: a multi-key DEL fails on a Cluster when the keys are in different slots.
    for (const key of request.deletes ?? []) {
      operations.push({ key, queue: (pipeline) => pipeline.del(key) });
    }
    // After the increments, so that a read that comes between them counts this login twice,
    // never not at all.
    for (const release of request.pendingReleases ?? []) {
      if (released.has(release)) continue;
      const entry = pendingEntry(release);
      operations.push({ key: release.key, queue: (pipeline) => pipeline.zrem(release.key, entry) });
    }

    if (operations.length === 0) return;
    await this.execute(operations);
  }

  async erase(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    // One scan per node for all the key families, since each scan walks the whole keyspace.
    const pattern = `${escapeGlob(sharedStart(keys))}*`;
    let removed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await this.bounded(node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        for (const key of found) {
          if (keys.some((prefix) => key.startsWith(prefix))) removed += await this.bounded(node.del(key));
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  async close(): Promise<void> {
    try {
      await this.bounded(this.client.quit());
    } catch {
      this.client.disconnect();
    }
  }

  /**
   * Run one round trip: a single pipeline, or against a Cluster one pipeline per master
   * that owns some of the keys, sent together. Replies come back in operation order. The
   * whole round trip is bounded by the store timeout.
   */
  private async execute(operations: readonly Operation[]): Promise<unknown[]> {
    this.trips += 1;
    const groups = this.groupByNode(operations);
    this.pipelines += groups.length;

    try {
      const sent = groups.map(async (group) => {
        const pipeline = this.client.pipeline();
        for (const index of group) operations[index].queue(pipeline);
        return { group, results: await pipeline.exec() };
      });
      const answered = await this.bounded(Promise.all(sent));

      const replies: unknown[] = new Array(operations.length);
      let requestError: Error | undefined;
      for (const { group, results } of answered) {
        if (!results) {
          throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', 'Redis pipeline was discarded');
        }
        results.forEach(([error, value], position) => {
          if (error && !(error instanceof ReplyError && isRequestErrorReply(error.message))) {
            throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', `Redis command failed: ${error.message}${this.connectionErrors.cause()}`);
          }
          requestError ??= error ?? undefined;
          replies[group[position]] = value;
        });
      }
      // Redis ran the rest of the pipeline, and it serves other requests, so this request
      // alone fails.
      if (requestError) {
        throw new RiskgateError('RG_ERR_STORE_REQUEST_INVALID', `Redis rejected a command of this request: ${requestError.message}`);
      }
      return replies;
    } catch (error) {
      if (error instanceof RiskgateError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', `Redis is unavailable: ${message}${this.connectionErrors.cause()}`);
    }
  }

  /**
   * Settle with `reply`, or reject with RG_ERR_STORE_TIMEOUT after the store timeout. The
   * client sets no per-command timeout (see createRedisClient), so this is what bounds
   * every call riskgate makes, including the direct client calls of other modules.
   */
  async bounded<T>(reply: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      let due = performance.now() + this.timeoutMs;
      let extensions = 0;
      const expire = () => {
        // A timer that fires late means that the process itself was busy, reading a large
        // body for one. A command that auto-pipelining or a second round trip sends on a
        // later turn may then have gone out only just now, so Redis gets another full
        // timeout, a bounded number of times.
        const now = performance.now();
        if (now - due > STALL_MS && extensions < MAX_STALL_EXTENSIONS) {
          extensions += 1;
          due = now + this.timeoutMs;
          timer = setTimeout(expire, this.timeoutMs);
          return;
        }
        // Timers run before the event loop reads its sockets. When the process is busy, a
        // reply that came in time can still be waiting there, so the timeout takes effect
        // only after this turn's reads, as a late Redis and not a busy gateway intends.
        setImmediate(() => {
          reject(new RiskgateError('RG_ERR_STORE_TIMEOUT', `Redis did not answer within ${this.timeoutMs} ms (store.timeout)`));
        });
      };
      timer = setTimeout(expire, this.timeoutMs);
    });
    try {
      return await Promise.race([reply, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Group operation indexes by the Cluster master of their slot; one group for a single server. */
  private groupByNode(operations: readonly Operation[]): number[][] {
    const all = operations.map((_, index) => index);
    if (!(this.client instanceof Cluster) || operations.length === 0) return [all];

    const slots = this.client.slots;
    const groups = new Map<string, number[]>();
    for (const index of all) {
      // Before the slot map is known, everything goes to one pipeline, which ioredis
      // rejects if its keys span nodes; the outage fallback then takes over.
      const node = slots[clusterSlot(operations[index].key)]?.[0] ?? 'unknown';
      const group = groups.get(node);
      if (group) group.push(index);
      else groups.set(node, [index]);
    }
    return [...groups.values()];
  }
}

/** Queue one of SCRIPTS on `key` with `args`. */
function script(name: ScriptName, key: string, ...args: (string | number)[]): Operation {
  return {
    key,
    queue: (pipeline) => (pipeline as unknown as Record<ScriptName, (...values: unknown[]) => unknown>)[name](key, ...args),
  };
}

/** Return the longest start that every one of `texts` shares. */
function sharedStart(texts: readonly string[]): string {
  let shared = texts[0];
  for (const text of texts) {
    let length = 0;
    while (length < shared.length && length < text.length && shared[length] === text[length]) length += 1;
    shared = shared.slice(0, length);
  }
  return shared;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}

/** Return a mark's entry in its sorted set: the login id, then `|` and the member if any. */
function pendingEntry(mark: { id: string; member?: string }): string {
  return mark.member === undefined ? mark.id : `${mark.id}|${mark.member}`;
}

import { randomBytes } from 'node:crypto';

import type { Logger } from 'pino';

import type { GatewayKeys } from '../crypto/keys.js';
import { Cluster } from 'ioredis';

import { clusterSlot } from './cluster-slot.js';
import type { RedisStore } from './redis.js';
import { matchesSecretCheck, recordSecretCheck, secretCheckKey } from './secret-check.js';

/** Interval at which a gateway checks that Redis still contains its data, besides on every reconnect. */
export const DATA_LOSS_CHECK_MS = 5000;

/**
 * Lifetime of a gateway's marker key, renewed by every check. It only has to outlive the
 * longest outage after which a loss should still be distinguished from an expiry, and it
 * lets the marker of a stopped gateway expire on its own.
 */
const MARKER_TTL_MS = 24 * 60 * 60_000;

/**
 * Store key of one gateway's marker: in the slot of the secret check key, so both checks go
 * to the same Cluster node. Each gateway has its own, so every gateway notices a loss, even
 * when another one has already written the secret check value again.
 */
export function dataLossMarkerKey(prefix: string, instance: string): string {
  return `${secretCheckKey(prefix)}:gateway:${instance}`;
}

/**
 * Store key of the store's epoch: the time, in ms, since which Redis has kept its data, as
 * far as the gateways have found. The first gateway to find it absent writes its start, and each
 * gateway that notices a loss moves it to that time. So a gateway that starts after a
 * loss, or one that has not noticed it yet, rejects the assertions issued before it too.
 */
export function storeEpochKey(prefix: string): string {
  return `${secretCheckKey(prefix)}:epoch`;
}

/**
 * Write ARGV[1] to the epoch key when it is absent or not a number, or with ARGV[2] = 1 when
 * it is earlier, and return the value the key then has. Gateways' clocks differ a little,
 * so a later loss never moves the epoch back.
 */
const ADVANCE_EPOCH = `
local current = redis.call('GET', KEYS[1])
if current == false or tonumber(current) == nil or (ARGV[2] == '1' and tonumber(current) < tonumber(ARGV[1])) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
`;

/**
 * Maximum hash tags tried to find a marker key for each Cluster master. Slots spread evenly
 * over the tags, so a few tries per master are expected.
 */
const MAX_TAG_TRIES = 100_000;

/**
 * Return one more marker key for each Cluster master that serves no slot of `baseKey`, so a
 * loss on any master is noticed, not only on the one with the secret check value. Each
 * key has a hash tag whose slot that master serves, found from the client's slot map.
 * Returns no key for a standalone server, or before the slot map has arrived.
 */
export function masterMarkerKeys(slots: readonly (readonly string[] | undefined)[], baseKey: string, prefix: string, instance: string): string[] {
  const masterOf = (key: string) => slots[clusterSlot(key)]?.[0];
  const masters = new Set(slots.map((nodes) => nodes?.[0]).filter((node): node is string => node !== undefined));
  masters.delete(masterOf(baseKey) ?? '');
  const keys: string[] = [];
  for (let tag = 0; masters.size > 0 && tag < MAX_TAG_TRIES; tag += 1) {
    const key = `${prefix}:s:{secret-check:${tag}}:gateway:${instance}`;
    const master = masterOf(key);
    if (master !== undefined && masters.delete(master)) keys.push(key);
  }
  return keys;
}

export interface DataLossWatchOptions {
  prefix: string;
  keys: GatewayKeys;
  logger: Logger;
  clock: () => number;
  intervalMs?: number;
  /** Called once per detected loss, for the metric. */
  onLoss?: () => void;
  /**
   * Clock difference allowed between the gateways, added to the time of a loss in the
   * cutoff, since another gateway may have issued a challenge by a clock a little ahead.
   */
  toleranceMs?: number;
}

/**
 * Notices that Redis lost its data while the gateway runs, as after a restart without
 * persistence, a FLUSHALL or an eviction. Without this, nothing fails: the restart gap is too
 * short for an outage, and the used step-up claims, manual entries and counters are gone.
 *
 * The gateway writes the secret check value and a marker key of its own once Redis is
 * reachable, and on a Cluster one more marker key on each other master. On every reconnect
 * and every `intervalMs`, one EXISTS and one SET ... GET per marker tell whether they are
 * still there. The SET writes the next count of checks to the marker and renews it. The GET
 * returns the count written last, so a Redis that went back to an earlier snapshot shows an
 * older count. When a key is gone or a count is older, one error line is logged, the keys
 * are written again, and `lostAt` records the time. Step-up
 * assertions issued before it are then rejected, because their single-use claims may have
 * been lost.
 */
export class DataLossWatch {
  readonly markerKey: string;
  /** The key of the store's epoch, see storeEpochKey. */
  readonly epochKey: string;
  /** The marker keys checked: markerKey, and on a Cluster one more for each other master. */
  private markerKeys: string[];
  private readonly instance = randomBytes(8).toString('hex');
  private written = false;
  /** The last count of checks written to the marker. */
  private sequence = 0;
  /**
   * Marker values that the marker may hold now: the last count written, and the counts of
   * checks that failed, since their SET may have been applied or not.
   */
  private accepted = new Set(['0']);
  private lost: number | undefined;
  /** The store's epoch as last read or written, in ms. */
  private epoch: number | undefined;
  /** The whole second in which this watch was created, before this gateway issued any challenge. */
  private readonly createdAt: number;
  /** Each Redis master's count of evicted keys at its last reading, by node address. */
  private readonly evicted = new Map<string, number>();
  /** Each Redis master's `run_id` at its last reading, by node address. */
  private readonly servers = new Map<string, string>();
  /** Each master's eviction policy once it has been logged, so that each is logged once. */
  private readonly reportedPolicies = new Map<string, string>();
  private checking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onReady = () => void this.check();

  constructor(
    private readonly store: RedisStore,
    private readonly options: DataLossWatchOptions,
  ) {
    this.markerKey = dataLossMarkerKey(options.prefix, this.instance);
    this.epochKey = storeEpochKey(options.prefix);
    this.createdAt = Math.floor(options.clock() / 1000) * 1000;
    this.markerKeys = [this.markerKey];
  }

  /** The marker keys in use. */
  get keys(): readonly string[] {
    return this.markerKeys;
  }

  /**
   * Return the marker keys and, last, the epoch key, once they have been written, so that a
   * missing one means a loss, and none before. A login reads them with its counters and
   * passes the epoch's value to observeEpoch.
   */
  watchedKeys(): readonly string[] {
    return this.written ? [...this.markerKeys, this.epochKey] : [];
  }

  /** Tell whether the keys have been written, so that `cutoff` reflects the store. */
  get ready(): boolean {
    return this.written;
  }

  /** Take a value of the epoch key read elsewhere, such as in a login's round trip. */
  observeEpoch(value: unknown): void {
    const time = Number(value);
    if (value === null || value === undefined || !Number.isFinite(time)) return;
    this.epoch = Math.max(this.epoch ?? time, time);
  }

  /** Clock time in milliseconds at which this gateway last noticed a loss, or undefined if never. */
  get lostAt(): number | undefined {
    return this.lost;
  }

  /**
   * Time in milliseconds since which the store is known to have kept its claims: the later of
   * the store's epoch and the last loss this gateway noticed, plus the clock tolerance.
   * Undefined until either is known. Assertions whose challenge was issued before it are
   * rejected.
   */
  get cutoff(): number | undefined {
    const noticed = this.lost === undefined ? undefined : this.lost + (this.options.toleranceMs ?? 0);
    if (noticed === undefined) return this.epoch;
    return this.epoch === undefined ? noticed : Math.max(noticed, this.epoch);
  }

  /** Start watching. When Redis is already connected, resolve after the first write. */
  async start(): Promise<void> {
    this.store.client.on('ready', this.onReady);
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? DATA_LOSS_CHECK_MS);
    this.timer.unref();
    if (this.store.client.status === 'ready') await this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.store.client.off('ready', this.onReady);
  }

  /** Run one check, or return the one already running instead of starting another. */
  check(): Promise<void> {
    this.checking ??= this.run().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async run(): Promise<void> {
    const { prefix, keys, logger } = this.options;
    if (this.store.client.status !== 'ready') return;
    try {
      if (!this.written) {
        this.written = await this.write();
        if (this.written) await this.checkServers(true);
        return;
      }
      const checkKey = secretCheckKey(prefix);
      this.sequence += 1;
      const next = String(this.sequence);
      this.accepted.add(next);
      const [stored, epoch, ...previous] = await this.store.bounded(Promise.all([
        this.store.client.get(checkKey),
        this.store.client.get(this.epochKey),
        ...this.markerKeys.map((key) => this.store.client.set(key, next, 'PX', MARKER_TTL_MS, 'GET')),
      ]));
      this.observeEpoch(epoch);
      // A missing epoch is a loss like a missing check value.
      const check = stored === null || epoch === null ? 0 : 1;
      const stale = this.markerKeys.findIndex((_, index) => previous[index] === null || !this.accepted.has(String(previous[index])));
      this.accepted = new Set([next]);
      // A gateway with another secret overwrote the check value. Writing it back, with a
      // warning, lets forget and export verify the fleet's secret again once that gateway stops.
      if (stored !== null && !matchesSecretCheck(stored, keys)) await recordSecretCheck(this.store, prefix, keys, logger);
      if (check === 1 && stale === -1) {
        await this.checkServers(true);
        return;
      }

      let missingKey = checkKey;
      if (check === 1) missingKey = this.markerKeys[stale];
      else if (stored !== null) missingKey = this.epochKey;
      // An older marker value means that Redis went back to an earlier state: a restored
      // snapshot, or a replica promoted before it had the latest writes.
      const cause = check !== 1 || previous[stale] === null ? 'missing' : 'older';
      this.reportLoss({ store_key: missingKey, marker: cause });
      await recordSecretCheck(this.store, prefix, keys, logger);
      await this.write();
      // The loss is reported, so the servers are read afresh, without a second line for the restart.
      this.servers.clear();
      await this.checkServers();
    } catch {
      // A failed check changes nothing: logins notice an outage and log it, and the next
      // check runs on reconnect or after the interval.
    }
  }

  /**
   * Read each Redis master's count of evicted keys and its `run_id`, and report a loss when
   * the count grew or the server changed since the last reading. An evicted key may be a
   * used step-up claim. Markers do not show an eviction: `volatile-ttl` evicts the claims,
   * whose lifetime is shorter, and an LRU policy evicts them too, since they are read once
   * while the markers are renewed every check. A new `run_id` is a restarted server or
   * another one after a failover, which may contain an earlier state than the last write. A
   * snapshot taken after the last check contains the current marker count, but not the
   * claims made since. With `policy`, also log an error once for each master that may evict
   * keys. A master that fails the INFO command is skipped.
   */
  async checkServers(policy = false): Promise<void> {
    if (this.store.client.status !== 'ready') return;
    const client = this.store.client;
    const nodes = client instanceof Cluster
      ? client.nodes('master').map((node) => ({ name: `${node.options.host}:${node.options.port}`, node }))
      : [{ name: 'redis', node: client }];

    const first = this.servers.size === 0;
    await Promise.all(nodes.map(async ({ name, node }) => {
      let stats: string;
      let server: string;
      let memory: string | undefined;
      try {
        [stats, server, memory] = await this.store.bounded(
          Promise.all([node.info('stats'), node.info('server'), policy ? node.info('memory') : undefined]));
      } catch {
        return;
      }
      if (memory !== undefined) this.reportPolicy(name, memory);

      const runId = /^run_id:(\w+)/m.exec(server)?.[1];
      const knownRunId = this.servers.get(name);
      if (runId !== undefined) {
        this.servers.set(name, runId);
        // A master first seen after the first reading replaced a failed one, or is a new shard.
        if (knownRunId === undefined ? !first : knownRunId !== runId) {
          this.reportServerChange(name, knownRunId === undefined ? 'new_master' : 'restarted');
          // The counts of a new server start again, so they are read afresh.
          this.evicted.delete(name);
        }
      }

      const count = infoNumber(stats, 'evicted_keys');
      if (count === undefined) return;
      const before = this.evicted.get(name);
      this.evicted.set(name, count);
      // A count that went down belongs to a restarted server, which the run_id reports.
      if (before === undefined || count <= before) return;
      this.reportLoss({ marker: 'evicted', evicted_keys: count - before, node: name });
      await recordSecretCheck(this.store, this.options.prefix, this.options.keys, this.options.logger);
      await this.advanceEpoch(this.cutoff);
    }));
  }

  /**
   * Record that a master restarted or was replaced, and reject the assertions issued before
   * now as after a loss. The server kept its data if it saved every write, but the gateway
   * cannot tell. The line is a warning, since a planned restart with persistence is routine.
   */
  private reportServerChange(name: string, change: 'restarted' | 'new_master'): void {
    this.lost = this.options.clock();
    void this.advanceEpoch(this.cutoff);
    this.options.logger.warn(
      { store: this.store.kind, riskgate: { node: name, server: change } },
      `Redis ${name} ${change === 'restarted' ? 'restarted' : 'is a new master'}: it may hold an earlier state ` +
        'than the last writes (a snapshot, or a replica that lagged), without the single-use claims of the last ' +
        'step-up assertions, so assertions issued before now are rejected and those users complete the step-up again',
    );
  }

  /** Log an error once for a master whose memory limit and policy let it evict keys. */
  private reportPolicy(name: string, memory: string): void {
    const policy = /^maxmemory_policy:(\S+)/m.exec(memory)?.[1];
    const limit = infoNumber(memory, 'maxmemory');
    if (policy === undefined || limit === undefined || limit === 0 || policy === 'noeviction') {
      this.reportedPolicies.delete(name);
      return;
    }
    if (this.reportedPolicies.get(name) === policy) return;
    this.reportedPolicies.set(name, policy);
    this.options.logger.error(
      { store: this.store.kind, riskgate: { node: name, maxmemory_policy: policy, maxmemory: limit } },
      `Redis ${name} evicts keys when full (maxmemory-policy ${policy}): an evicted step-up claim would let a used ` +
        'assertion pass again, so every eviction rejects the assertions issued before it, and evicted counters ' +
        'start from zero. Set maxmemory-policy noeviction and give Redis memory for every counter window',
    );
  }

  /** Record a loss now, count it, and log one error line with `fields` saying how it was noticed. */
  private reportLoss(fields: Record<string, unknown>): void {
    this.lost = this.options.clock();
    this.options.onLoss?.();
    this.options.logger.error(
      {
        store: this.store.kind,
        riskgate: { ...fields, lost: ['step-up claims', 'manual entries', 'counters', 'profiles'] },
      },
      'risk store lost its data (a Redis restart without persistence, a flush, an eviction, a restored snapshot ' +
        'or a failover to a lagging replica): used step-up ' +
        'assertions would pass again, manual block and allow entries are gone, and counters and profiles start ' +
        'from zero. Step-up assertions issued before now are rejected, and the secret check value is written again. ' +
        'Run Redis with appendonly yes or RDB snapshots and maxmemory-policy noeviction, and add the manual entries again',
    );
  }

  /**
   * Move the store's epoch to `time` when it is earlier, or write `time` when it is absent,
   * and take the value it then has. Without `time`, write the second this watch was created
   * only when the epoch is absent, as at a gateway's first connection: the store may have
   * lost the claims of challenges issued before it. A failed write changes nothing, and the
   * next check writes the epoch again. Returns false when the write failed.
   */
  private async advanceEpoch(time?: number): Promise<boolean> {
    try {
      const value = await this.store.bounded(this.store.client.eval(
        ADVANCE_EPOCH, 1, this.epochKey, String(time ?? this.createdAt), time === undefined ? '0' : '1'));
      this.observeEpoch(value);
      return true;
    } catch {
      // A loss is recorded in this process already, and the next check writes the epoch again.
      return false;
    }
  }

  /** Write the secret check value, this gateway's marker and the epoch, and return false when a write failed. */
  private async write(): Promise<boolean> {
    const { prefix, keys, logger } = this.options;
    if (!(await recordSecretCheck(this.store, prefix, keys, logger))) return false;
    if (!(await this.advanceEpoch(this.lost === undefined ? undefined : this.cutoff))) return false;
    const client = this.store.client;
    if (client instanceof Cluster) {
      this.markerKeys = [this.markerKey, ...masterMarkerKeys(client.slots, this.markerKey, prefix, this.instance)];
    }
    await this.store.bounded(Promise.all(
      this.markerKeys.map((key) => client.set(key, String(this.sequence), 'PX', MARKER_TTL_MS)),
    ));
    return true;
  }
}

/** Read a whole-number field of an INFO section, such as `evicted_keys`. */
function infoNumber(info: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : undefined;
}

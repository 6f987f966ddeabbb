import { Redis, type RedisOptions } from 'ioredis';

import { RiskgateError } from '../errors.js';
import {
  bucketOf,
  elapsedFraction,
  slidingCount,
  slidingDistinct,
  type CounterStore,
  type ReadRequest,
  type ReadResult,
  type WriteRequest,
} from './store.js';

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

type ScriptedRedis = Redis & {
  rgIncrement(key: string, ttlMs: number): Promise<number>;
  rgDistinctAdd(key: string, ttlMs: number, member: string): Promise<number>;
};

export interface RedisStoreOptions {
  url: string;
  timeoutMs: number;
  redisOptions?: RedisOptions;
}

/**
 * Counters in Redis, shared by every gateway that points at the same server. Each bucket is
 * its own key `<counter key>:<bucket index>`; both buckets of a counter share the hash tag
 * in the counter key, so they live in one Cluster slot.
 */
export class RedisStore implements CounterStore {
  readonly kind = 'redis';
  readonly client: ScriptedRedis;
  private readonly timeoutMs: number;
  private trips = 0;

  constructor(options: RedisStoreOptions) {
    this.timeoutMs = options.timeoutMs;
    const client = new Redis(options.url, {
      // Commands of concurrent requests issued in the same tick go out in one write.
      enableAutoPipelining: true,
      // Fail at once while disconnected instead of queueing requests behind a dead server.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs * 4),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      lazyConnect: false,
      ...options.redisOptions,
    });
    client.defineCommand('rgIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    client.defineCommand('rgDistinctAdd', { numberOfKeys: 1, lua: DISTINCT_ADD_SCRIPT });
    // Connection errors are reported through failed commands and the outage log lines;
    // without a listener ioredis would print each reconnect failure itself.
    client.on('error', () => {});
    this.client = client as ScriptedRedis;
  }

  get roundTrips(): number {
    return this.trips;
  }

  async read(request: ReadRequest): Promise<ReadResult> {
    const pipeline = this.client.pipeline();
    const now = request.now;

    for (const counter of request.counters) {
      const bucket = bucketOf(now, counter.windowMs);
      const current = `${counter.key}:${bucket}`;
      const previous = `${counter.key}:${bucket - 1}`;
      if (counter.kind === 'count') {
        pipeline.mget(current, previous);
      } else {
        pipeline.pfcount(current);
        pipeline.pfcount(current, previous);
      }
    }
    for (const claim of request.claims) {
      pipeline.set(claim.key, '1', 'PX', claim.ttlMs, 'NX');
    }
    for (const key of request.lookups ?? []) {
      pipeline.get(key);
    }

    const replies = await this.execute(pipeline);
    let index = 0;
    const counts = request.counters.map((counter) => {
      const fraction = elapsedFraction(now, counter.windowMs);
      if (counter.kind === 'count') {
        const [current, previous] = replies[index++] as (string | null)[];
        return slidingCount(Number(current ?? 0), Number(previous ?? 0), fraction);
      }
      const current = replies[index++] as number;
      const union = replies[index++] as number;
      return slidingDistinct(current, union, fraction);
    });
    const claimed = request.claims.map(() => replies[index++] === 'OK');
    const values = (request.lookups ?? []).map(() => (replies[index++] as string | null) ?? null);

    return { counts, claimed, values };
  }

  async setValue(key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(key, value, 'PX', ttlMs);
  }

  async deleteValue(key: string): Promise<void> {
    await this.client.del(key);
  }

  async write(request: WriteRequest): Promise<void> {
    if (
      request.increments.length === 0 &&
      request.distinct.length === 0 &&
      request.resets.length === 0
    ) {
      return;
    }
    const pipeline = this.client.pipeline() as unknown as ScriptedRedis & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    const now = request.now;

    for (const increment of request.increments) {
      const bucket = bucketOf(now, increment.windowMs);
      pipeline.rgIncrement(`${increment.key}:${bucket}`, 2 * increment.windowMs);
    }
    for (const addition of request.distinct) {
      const bucket = bucketOf(now, addition.windowMs);
      pipeline.rgDistinctAdd(`${addition.key}:${bucket}`, 2 * addition.windowMs, addition.member);
    }
    for (const reset of request.resets) {
      const bucket = bucketOf(now, reset.windowMs);
      pipeline.del(`${reset.key}:${bucket}`, `${reset.key}:${bucket - 1}`);
    }

    await this.execute(pipeline as never);
  }

  async erase(keys: readonly string[]): Promise<number> {
    let removed = 0;
    for (const prefix of keys) {
      let cursor = '0';
      do {
        const [next, found] = await this.client.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
        cursor = next;
        if (found.length > 0) {
          removed += await this.client.del(...found);
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private async execute(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    this.trips += 1;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new RiskgateError('RG_ERR_STORE_TIMEOUT', `Redis did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });

    try {
      const results = await Promise.race([pipeline.exec(), timeout]);
      if (!results) {
        throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', 'Redis pipeline was discarded');
      }
      return results.map(([error, value]) => {
        if (error) {
          throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', `Redis command failed: ${error.message}`);
        }
        return value;
      });
    } catch (error) {
      if (error instanceof RiskgateError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', `Redis is unavailable: ${message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}

import { Redis } from 'ioredis';

import { RedisStore } from '../../src/store/redis.js';
import { REDIS_URL, type TestGateway } from './gateway.js';
import { waitFor } from './wait.js';

/** Delete every key under `prefix:` on the shared test Redis; never touches other keys. */
export async function deleteKeysWithPrefix(prefix: string): Promise<number> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) removed += await client.del(...found);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return removed;
}

/** Read the fields of one hash on the shared test Redis. */
export async function hashOf(key: string): Promise<Record<string, string>> {
  const client = new Redis(REDIS_URL);
  try {
    return await client.hgetall(key);
  } finally {
    client.disconnect();
  }
}

/** Every key under `prefix:` on the shared test Redis (read-only). */
export async function listKeys(prefix: string): Promise<string[]> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const keys: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return keys;
}

/** One command as Redis MONITOR reported it. */
export interface MonitoredCommand {
  name: string;
  args: string[];
  /** `host:port` of the client connection that sent it, or `lua` inside a script. */
  source: string;
}

/**
 * A MONITOR connection that keeps only the commands sent from one client address, so the
 * count is exact however many other tests share the server.
 */
export class RedisMonitor {
  readonly commands: MonitoredCommand[] = [];
  private monitor?: Redis;

  constructor(private readonly source: string) {}

  async start(): Promise<this> {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    this.monitor = await client.monitor();
    client.disconnect();
    this.monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === this.source) {
        this.commands.push({ name: String(args[0]).toLowerCase(), args: args.slice(1), source });
      }
    });
    return this;
  }

  /** Wait until a command carrying `marker` as an argument has been seen. */
  async waitForMarker(marker: string): Promise<void> {
    await waitFor(() => this.commands.some((command) => command.args.includes(marker)), `MONITOR to report ${marker}`);
  }

  stop(): void {
    this.monitor?.disconnect();
  }
}

/** Return the Redis store behind a test gateway. Throws if the gateway uses the memory store. */
export function redisStoreOf(gateway: TestGateway): RedisStore {
  const store = gateway.context.store.primary;
  if (!(store instanceof RedisStore)) throw new Error('the test gateway was expected to use the Redis store');
  return store;
}

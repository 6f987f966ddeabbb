import { Redis } from 'ioredis';

import { REDIS_URL } from '../helpers/gateway.js';

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

/**
 * The distinct counter keys of one counter, with the bucket index removed. A counter key
 * reads `<prefix>:c:{<counter name>:<digest>}:<bucket>`.
 */
export function counterKeys(keys: readonly string[], counterName: string): string[] {
  const marker = `:c:{${counterName}:`;
  return [...new Set(keys.filter((key) => key.includes(marker)).map((key) => key.slice(0, key.lastIndexOf(':'))))];
}

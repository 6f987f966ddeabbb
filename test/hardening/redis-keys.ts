export { listKeys } from '../helpers/redis.js';

/**
 * The distinct counter keys of one counter, with the bucket index removed. A counter key
 * reads `<prefix>:c:{<counter name>:<digest>:<kind>}:<bucket>`.
 */
export function counterKeys(keys: readonly string[], counterName: string): string[] {
  const marker = `:c:{${counterName}:`;
  return [...new Set(keys.filter((key) => key.includes(marker)).map((key) => key.slice(0, key.lastIndexOf(':'))))];
}

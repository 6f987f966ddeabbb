import type { GatewayConfig } from '../config/types.js';

/**
 * Config fields a reload applies to the running gateway: the rule files, the IP lists and
 * the gateway mode. They only feed the rule set and mode that each login reads once.
 */
const LIVE_FIELDS: ReadonlySet<string> = new Set(['rulePaths', 'ipLists', 'mode']);

/**
 * Fields never compared: `source` is the file being reloaded, and `secret` comes from
 * RISKGATE_SECRET, which a running process cannot see change.
 */
const IGNORED_FIELDS: ReadonlySet<string> = new Set(['source', 'secret']);

/** Fields compared as one value, although they are objects. */
const WHOLE_FIELDS: ReadonlySet<string> = new Set(['listen', 'upstream']);

/**
 * List the config keys, in the file's own spelling (such as `store.url`), whose values
 * differ between the running config and a newly read one and that only a restart applies.
 */
export function restartRequiredKeys(running: GatewayConfig, next: GatewayConfig): string[] {
  const keys: string[] = [];
  for (const field of Object.keys(running) as (keyof GatewayConfig)[]) {
    if (LIVE_FIELDS.has(field) || IGNORED_FIELDS.has(field)) continue;
    const before: unknown = running[field];
    const after: unknown = next[field];

    if (isPlainObject(before) && isPlainObject(after) && !WHOLE_FIELDS.has(field)) {
      for (const part of new Set([...Object.keys(before), ...Object.keys(after)])) {
        if (serialize(before[part]) !== serialize(after[part])) keys.push(`${configKey(field)}.${configKey(part)}`);
      }
    } else if (serialize(before) !== serialize(after)) {
      keys.push(configKey(field));
    }
  }
  return keys;
}

/** Spell a resolved field as its config key: `retryAfterMs` is `retry_after`, `rulePaths` is `rules`. */
function configKey(field: string): string {
  if (field === 'rulePaths') return 'rules';
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`).replace(/_ms$/, '');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof URL);
}

function serialize(value: unknown): string {
  return value instanceof URL ? value.href : JSON.stringify(value) ?? 'undefined';
}

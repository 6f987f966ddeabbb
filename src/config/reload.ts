import type { SourceProblem } from '../errors.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { DURATION_PATTERN, parseDurationMs } from './duration.js';
import type { GatewayConfig } from './types.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

/** Maximum reload.debounce, because a saved rule file waits this long before it applies. */
const MAX_DEBOUNCE_MS = 60_000;

/** JSON Schema of the `reload` key. */
export const RELOAD_SCHEMA = {
  reload: {
    type: 'object',
    additionalProperties: false,
    properties: {
      watch: { type: 'boolean' },
      debounce: { type: 'string', pattern: DURATION_PATTERN },
    },
  },
} as const;

/** Check the debounce cap, which the schema cannot express. */
export function checkReloadValues(merged: RawConfig, source: YamlSource): SourceProblem[] {
  const debounce = merged.reload?.debounce;
  if (typeof debounce !== 'string' || !new RegExp(DURATION_PATTERN).test(debounce)) return [];
  if (parseDurationMs(debounce) <= MAX_DEBOUNCE_MS) return [];
  return [source.problemAt(['reload', 'debounce'],
    `reload.debounce "${debounce}" is longer than the 1m maximum; use a value such as 250ms, or set reload.watch: false and send SIGHUP`)];
}

/** Resolve the `reload` part of the config. */
export function resolveReloadConfig(merged: RawConfig): GatewayConfig['reload'] {
  const reload = { ...CONFIG_DEFAULTS.reload, ...merged.reload };
  return { watch: reload.watch, debounceMs: parseDurationMs(reload.debounce) };
}

import { formatDurationMs } from '../config/duration.js';
import type { SourceProblem } from '../errors.js';
import type { CounterDefinition } from '../rules/types.js';

/**
 * Return a warning for each counter that a reload starts again from zero. Buckets are numbered by window,
 * keys by key parts, and each count kind has its own keys, so a counter whose window, key or
 * kind changes reads none of what it counted before. Until every gateway sharing the store
 * has reloaded, the old and new definitions also count apart.
 */
export function restartedCounters(
  previous: readonly CounterDefinition[],
  next: readonly CounterDefinition[],
): SourceProblem[] {
  const before = new Map(previous.map((counter) => [counter.name, counter]));
  const warnings: SourceProblem[] = [];
  for (const counter of next) {
    const old = before.get(counter.name);
    if (!old) continue;

    const changes: string[] = [];
    if (old.windowMs !== counter.windowMs) {
      changes.push(`window ${formatDurationMs(old.windowMs)} -> ${formatDurationMs(counter.windowMs)}`);
    }
    if (old.key.join(',') !== counter.key.join(',')) {
      changes.push(`key [${old.key.join(', ')}] -> [${counter.key.join(', ')}]`);
    }
    if (old.count !== counter.count) changes.push(`count ${old.count} -> ${counter.count}`);
    if (changes.length === 0) continue;

    warnings.push({
      file: counter.file,
      line: counter.line,
      column: 1,
      message: `counter "${counter.name}" changed (${changes.join('; ')}), so its counts start again from zero; ` +
        'gateways still on the old rule set count apart until they reload',
    });
  }
  return warnings;
}

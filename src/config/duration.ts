const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Pattern for schemas: a number followed by ms, s, m, h or d, such as `10m`. */
export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)$';

/** Parse a duration such as `500ms`, `30s`, `10m`, `1h` or `90d` into milliseconds. */
export function parseDurationMs(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new Error(`invalid duration "${text}": use a number followed by ms, s, m, h or d`);
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}

/** Write milliseconds in the largest unit that divides them exactly, such as `10m` or `90s`. */
export function formatDurationMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

import { isScalar } from 'yaml';

import type { YamlSource } from '../config/yaml-source.js';
import type { SourceProblem } from '../errors.js';
import { SIGNAL_GROUPS, SIGNAL_SCHEMA } from '../signals/catalog.js';
import type { RuleSource } from './load.js';
import type { RuleDefinition } from './types.js';

/** The parts of a cel-js ParseError or TypeError that locate and name the problem. */
interface CelError {
  message?: string;
  code?: string;
  range?: { start: number };
  node?: { pos?: number };
}

/**
 * Build the problem for a `when` that failed to parse or type-check, located at the
 * character of the expression that CEL points at, so editors jump into the condition.
 */
export function celProblem(source: RuleSource, rule: RuleDefinition, error: unknown): SourceProblem {
  const cel = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as CelError;
  const offset = Number(cel.range?.start ?? cel.node?.pos ?? 0);
  const where = locateWhen(source, rule, offset);
  return { file: rule.file, ...where, message: `rule "${rule.id}": invalid condition: ${describe(cel, rule.when, offset, source)}` };
}

/** Build the problem for a `when` that type-checks but is not a bool. */
export function celTypeProblem(source: RuleSource, rule: RuleDefinition, type: string): SourceProblem {
  return {
    file: rule.file,
    ...locateWhen(source, rule, 0),
    message: `rule "${rule.id}": when must be a bool expression, but it is ${type}; compare it, for example ${rule.when} > 0`,
  };
}

function locateWhen(source: RuleSource, rule: RuleDefinition, offset: number): { line: number; column: number } {
  const yaml = source.sources.get(rule.file);
  const index = source.rules.filter((other) => other.file === rule.file).indexOf(rule);
  const path = ['rules', index, 'when'];
  return (yaml && locateInScalar(yaml, path, offset)) ?? yaml?.locate(path) ?? { line: rule.line, column: 1 };
}

function describe(error: CelError, expression: string, offset: number, source: RuleSource): string {
  const summary = (error.message ?? 'invalid expression').split('\n')[0];
  if (error.code === 'unknown_variable') {
    const name = /: (\S+)$/.exec(summary)?.[1] ?? '';
    return `unknown signal group "${name}"; conditions read ${SIGNAL_GROUPS.join(', ')} and counters`;
  }
  if (error.code !== 'no_such_key') {
    return summary;
  }

  const key = /: (\S+)$/.exec(summary)?.[1] ?? '';
  const group = /([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*$/.exec(expression.slice(0, offset))?.[1];
  if (group === 'counters') {
    const declared = source.counters.map((counter) => counter.name).join(', ') || 'none';
    return `unknown counter "${key}": declare it under counters or check its spelling (declared: ${declared})`;
  }
  const fields = group ? (SIGNAL_SCHEMA as Record<string, Record<string, string>>)[group] : undefined;
  if (group && fields) {
    return `unknown signal "${group}.${key}"; ${group} has ${Object.keys(fields).join(', ')}`;
  }
  return summary;
}

/**
 * Locate a character of a string scalar's parsed value in the YAML text. `offset` counts
 * characters of the value (what CEL sees); the value is matched against the raw text as a
 * subsequence, which steps over quotes, escape backslashes, block indentation and folded
 * line breaks. Returns undefined when the path is not a string scalar.
 */
export function locateInScalar(
  source: YamlSource,
  path: readonly (string | number)[],
  offset: number,
): { line: number; column: number } | undefined {
  const node = source.document.getIn(path, true);
  if (!isScalar(node) || !node.range || typeof node.value !== 'string') return undefined;

  const raw = source.text.slice(node.range[0], node.range[1]);
  const index = alignOffset(node.value, raw, bodyStart(raw, node.type), offset);
  return positionOf(source.text, node.range[0] + index);
}

function bodyStart(raw: string, type: string | undefined): number {
  if (type === 'BLOCK_LITERAL' || type === 'BLOCK_FOLDED') {
    // The header line (`|`, `>-`, maybe a comment) holds none of the value.
    const end = raw.indexOf('\n');
    return end === -1 ? raw.length : end + 1;
  }
  return type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE' ? 1 : 0;
}

function alignOffset(value: string, raw: string, start: number, offset: number): number {
  let cursor = start;
  let last = start;
  const end = Math.min(offset, value.length);
  for (let index = 0; index <= end; index += 1) {
    if (index === value.length) {
      // An error at the end of the expression points just past its last character.
      return index === 0 ? start : last + 1;
    }
    const found = raw.indexOf(value[index], cursor);
    // NOTE: a character written as an escape (\n, \t, \u0041) is not in the raw text; the
    // position then stays on the last character matched.
    if (found === -1) continue;
    if (index === end) return found;
    last = found;
    cursor = found + 1;
  }
  return last;
}

function positionOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let position = text.indexOf('\n'); position !== -1 && position < index; position = text.indexOf('\n', position + 1)) {
    line += 1;
    lineStart = position + 1;
  }
  return { line, column: index - lineStart + 1 };
}

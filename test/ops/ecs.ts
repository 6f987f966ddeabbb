import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import ipaddr from 'ipaddr.js';

import { PROJECT_ROOT } from '../helpers/gateway.js';

export interface FieldList {
  ecs_version: string;
  ecs: Record<string, string>;
  custom: Record<string, string>;
}

export const FIELD_LIST: FieldList = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'docs', 'ecs-fields.json'), 'utf8'));

/** Field types whose value is a whole object: the walk stops there instead of descending. */
const OBJECT_TYPES = new Set(['geo_point', 'flattened']);

/** One leaf of a log line: its dotted path and value. */
export interface Leaf {
  path: string;
  value: unknown;
}

/** The type the list gives a path: exact names first, then `prefix.*` patterns. */
export function typeOf(path: string): string | undefined {
  const exact = FIELD_LIST.ecs[path] ?? FIELD_LIST.custom[path];
  if (exact) return exact;
  for (const [name, type] of Object.entries(FIELD_LIST.custom)) {
    if (name.endsWith('.*') && path.startsWith(name.slice(0, -1)) && !path.slice(name.length - 1).includes('.')) {
      return type;
    }
  }
  return undefined;
}

/** Flatten a log line to dotted leaves; arrays of scalars and whole-object types are leaves. */
export function leavesOf(document: Record<string, unknown>, prefix = ''): Leaf[] {
  const leaves: Leaf[] = [];
  for (const [key, value] of Object.entries(document)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const type = typeOf(path);
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(type && OBJECT_TYPES.has(type))) {
      leaves.push(...leavesOf(value as Record<string, unknown>, path));
    } else {
      leaves.push({ path, value });
    }
  }
  return leaves;
}

/** Whether a JSON value fits an Elasticsearch field type; arrays fit when every item does. */
export function fitsType(value: unknown, type: string): boolean {
  if (Array.isArray(value)) return value.every((item) => fitsType(item, type));
  switch (type) {
    case 'keyword':
    case 'wildcard':
    case 'match_only_text':
      return typeof value === 'string';
    case 'long':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'date':
      return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value);
    case 'ip':
      return typeof value === 'string' && ipaddr.isValid(value);
    case 'geo_point': {
      const point = value as { lat?: unknown; lon?: unknown };
      return typeof point === 'object' && point !== null && typeof point.lat === 'number' && typeof point.lon === 'number';
    }
    case 'flattened':
      return typeof value === 'object' && value !== null;
    default:
      return false;
  }
}

/** Every problem with one line: fields missing from the list, and values of the wrong type. */
export function checkLine(line: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const leaf of leavesOf(line)) {
    const type = typeOf(leaf.path);
    if (!type) problems.push(`${leaf.path} is not in docs/ecs-fields.json`);
    else if (!fitsType(leaf.value, type)) problems.push(`${leaf.path} = ${JSON.stringify(leaf.value)} is not of type ${type}`);
  }
  return problems;
}

import type { ErrorObject } from 'ajv';

import type { SourceProblem } from '../errors.js';
import { hideUrlUserInfo } from './url-user-info.js';
import { webhookUrlForMessage } from './webhook.js';
import type { YamlSource } from './yaml-source.js';

/** Keys whose values are credentials, so an error message never repeats them. */
const SECRET_KEYS = new Set(['token', 'password', 'secret']);

/** Longest value quoted in a message; longer ones are cut with an ellipsis. */
const MAX_QUOTED_LENGTH = 80;

/** The config path of a schema error, with array indexes as numbers. */
export function schemaPath(error: ErrorObject): (string | number)[] {
  return error.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~')));
}

/**
 * Turn one schema error into a located problem that names the key, what is wrong and the
 * fix. With `data` (the validated config), the message also quotes the rejected value.
 */
export function schemaProblem(source: YamlSource, error: ErrorObject, data?: unknown): SourceProblem {
  const path = schemaPath(error);
  const key = path.length > 0 ? path.join('.') : 'the top level';
  const got = data === undefined ? '' : quoteValue(path, valueAt(data, path));

  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty);
    return {
      file: source.file,
      ...source.locateKey([...path, extra]),
      message: `unknown key "${extra}" in ${key}: remove it or check its spelling`,
    };
  }
  if (error.keyword === 'required') {
    return source.problemAt(path, `${key} is missing the required key "${error.params.missingProperty}"`);
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params.allowedValues as unknown[]).map((value) => JSON.stringify(value));
    return source.problemAt(path, `${key} must be one of ${allowed.join(', ')}${got}`);
  }
  if (error.keyword === 'pattern') {
    return source.problemAt(path, `${key} has an invalid format (${patternHint(path)})${got}`);
  }
  if (error.keyword === 'minItems') {
    const limit = Number(error.params.limit);
    return source.problemAt(path, `${key} must list at least ${limit} ${limit === 1 ? 'entry' : 'entries'}`);
  }
  return source.problemAt(path, `${key} ${error.message ?? 'is invalid'}${got}`);
}

function patternHint(path: (string | number)[]): string {
  // An array entry (a status code, a Cluster node) takes its hint from the array's key.
  const named = path.filter((part): part is string => typeof part === 'string');
  const last = named[named.length - 1] ?? '';
  if (['timeout', 'ttl', 'retry_after', 'max_age', 'connect', 'response', 'retention'].includes(last)) {
    return 'use a duration such as 50ms, 30s, 10m or 1h';
  }
  if (last === 'cluster' || last === 'sentinels') return 'use host:port such as 10.0.0.5:6379';
  if (last === 'listen') return 'use host:port such as 127.0.0.1:8080';
  if (last === 'url' && named[0] === 'webhook') return "use the receiver's http:// or https:// URL";
  if (last === 'url') return 'use memory, redis://host:6379 or rediss://host:6380';
  if (last === 'upstream' || last === 'jwks_url') return 'use an http:// or https:// URL';
  if (last === 'path') return 'start it with /, such as /login';
  if (last === 'method') return 'use an upper-case HTTP method such as POST';
  if (last === 'id') return 'use 1 to 64 lower-case letters, digits, ".", "_" or "-"';
  if (last === 'key_prefix') return 'use 1 to 32 letters, digits, "_" or "-"';
  if (last === 'header') return 'use letters, digits and "-", such as Riskgate-Step-Up';
  if (last === 'name') return 'use letters, digits, "_" and "-"';
  if (last === 'success_status' || last === 'failure_status') {
    return 'use a quoted status code such as "302", a class such as 2xx, or "!429" to exclude one';
  }
  return 'see riskgate.example.yaml for the accepted form';
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let value = data;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string | number, unknown>)[part];
  }
  return value;
}

/** The rejected value as `, got "..."`, or nothing for objects, arrays and credentials. */
function quoteValue(path: readonly (string | number)[], value: unknown): string {
  if (value === undefined || (typeof value === 'object' && value !== null)) return '';
  if (path.some((part) => typeof part === 'string' && SECRET_KEYS.has(part))) return '';

  const quoted = typeof value === 'string' && path[0] === 'webhook' ? webhookUrlForMessage(value) : value;
  let text = JSON.stringify(typeof quoted === 'string' ? hideUrlUserInfo(quoted) : quoted);
  if (text.length > MAX_QUOTED_LENGTH) text = `${text.slice(0, MAX_QUOTED_LENGTH - 4)}..."`;
  return `, got ${text}`;
}


import type { IncomingMessage, ServerResponse } from 'node:http';

import { sendProblem } from '../proxy/forward.js';
import { topLevelKeys } from '../request/json-keys.js';
import { jsonSyntaxErrorPosition } from './json-syntax.js';

/** Largest admin request body read, in bytes. */
const MAX_BODY_BYTES = 16_384;

/** A request the admin API rejects; the router turns it into an RFC 9457 problem. */
export class AdminProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AdminProblem';
  }
}

/** Read a JSON object body; anything else is a 400, 413 or 415 problem. */
export async function readJsonObject(request: IncomingMessage): Promise<Record<string, unknown>> {
  const type = String(request.headers['content-type'] ?? '');
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw new AdminProblem(415, 'unsupported media type',
      `send the body as JSON with Content-Type: application/json (got "${type.slice(0, 64)}")`);
  }

  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += (chunk as Buffer).length;
    if (length > MAX_BODY_BYTES) {
      throw new AdminProblem(413, 'request body too large', `admin request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }

  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's message quotes part of the body, which may contain a username, and the audit
    // line logs the detail too. So the detail names only the position.
    const position = jsonSyntaxErrorPosition(text);
    const where = position === undefined ? '' : `: syntax error at position ${position}`;
    throw new AdminProblem(400, 'invalid JSON', `the body is not valid JSON${where}; send a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AdminProblem(400, 'invalid request body', 'the body must be a JSON object');
  }
  // JSON.parse keeps the last of two equal keys and a client library may send the first,
  // so an erasure could act on another account than the one the caller meant.
  const keys = topLevelKeys(text);
  const repeated = keys.find((key, index) => keys.indexOf(key) !== index);
  if (repeated !== undefined) {
    throw new AdminProblem(400, 'invalid request body', `the key "${repeated.slice(0, 32)}" appears more than once; send it once`);
  }
  return value as Record<string, unknown>;
}

/** Send a JSON document. */
export function sendJson(response: ServerResponse, status: number, document: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(document);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(body);
}

/** Send an AdminProblem as `application/problem+json`. */
export function sendAdminProblem(response: ServerResponse, problem: AdminProblem): void {
  sendProblem(response, problem.status, problem.title, problem.detail, false, {}, problem.headers);
}

/** Read a string field of a request body; undefined when absent. */
export function optionalString(body: Record<string, unknown>, field: string, maxLength = 512): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new AdminProblem(400, 'invalid request body', `${field} must be a string`);
  }
  if (value.length > maxLength) {
    throw new AdminProblem(400, 'invalid request body', `${field} is longer than ${maxLength} characters`);
  }
  // A JSON escape such as \ud800 makes a lone surrogate, which has no UTF-8 form, and the
  // Redis list edit script rejects it.
  if (/\p{Surrogate}/u.test(value)) {
    throw new AdminProblem(400, 'invalid request body', `${field} contains an unpaired UTF-16 surrogate; send valid Unicode`);
  }
  return value;
}

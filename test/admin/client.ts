import { send, type Reply } from '../helpers/gateway.js';

/** A 48-character admin token for tests. */
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef0123456789';

/**
 * Call the admin listener with the test token, another `token`, or none when `token` is null.
 * `raw` sends a JSON text as it is, for bodies that JSON.stringify cannot produce.
 */
export function admin(
  port: number,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string | null } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
  return send(port, {
    method,
    path,
    headers,
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
}

/**
 * Send a login as curl sends it: a tool user agent and no Accept-Language, which the default
 * rules challenge unless an allow entry matches.
 */
export function curlLogin(port: number, source: string): Promise<Reply> {
  return send(port, {
    method: 'POST',
    path: '/login',
    source,
    headers: { 'user-agent': 'curl/8.5.0', accept: '*/*', 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'wonderland' }),
  });
}

/** Parse Prometheus exposition text into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const split = line.lastIndexOf(' ');
    samples.set(line.slice(0, split), Number(line.slice(split + 1)));
  }
  return samples;
}

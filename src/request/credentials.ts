import type { LoginRoute } from '../config/types.js';
import { RequestRejection } from './body.js';
import { topLevelKeys } from './json-keys.js';

/** The username a login body carries, or `undefined` when it names none. */
export interface ParsedLogin {
  username: string | undefined;
  format: 'json' | 'form';
}

const UTF8_BOM = '\uFEFF';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Read the username from a login body the way the app will: by Content-Type, as UTF-8.
 * Whatever the app could read differently (another content type or charset, a duplicated
 * username field, a username that is not a string) is rejected, never guessed. Frameworks
 * that merge query and body parameters may also read the username from the query string
 * (`query`, without the `?`), so a username there counts too and must agree with the body's.
 */
export function parseLoginBody(
  body: Buffer,
  contentType: string | undefined,
  route: LoginRoute,
  query = '',
): ParsedLogin {
  const format = bodyFormat(contentType, route);
  const fromQuery = formValue(query, route, 'query string');
  if (body.length === 0) {
    return { username: fromQuery, format };
  }

  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new RequestRejection(400, 'invalid request body', 'the login body is not valid UTF-8');
  }
  if (text.startsWith(UTF8_BOM)) {
    text = text.slice(1);
  }

  const fromBody = format === 'json' ? parseJson(text, route) : formValue(text, route, 'body');
  if (fromQuery !== undefined && fromBody !== undefined && fromQuery !== fromBody) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the field "${route.usernameField}" differs between the query string and the body; send it in the body only`);
  }
  return { username: fromBody ?? fromQuery, format };
}

function bodyFormat(contentType: string | undefined, route: LoginRoute): 'json' | 'form' {
  const [mediaType, ...parameters] = (contentType ?? '').toLowerCase().split(';').map((part) => part.trim());
  const charset = parameters.find((parameter) => parameter.startsWith('charset='));
  if (charset && !/^charset="?utf-8"?$/.test(charset)) {
    throw new RequestRejection(415, 'unsupported charset', `login bodies must be UTF-8, not ${charset.slice(8)}`);
  }

  const isJson = mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
  const isForm = mediaType === 'application/x-www-form-urlencoded';
  if (isJson && route.body !== 'form') return 'json';
  if (isForm && route.body !== 'json') return 'form';

  const accepted = route.body === 'auto' ? 'application/json or application/x-www-form-urlencoded'
    : route.body === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  throw new RequestRejection(415, 'unsupported media type',
    `Content-Type "${mediaType || '(none)'}" is not accepted on this login route; send ${accepted}`);
}

function parseJson(text: string, route: LoginRoute): string | undefined {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body must be a JSON object');
  }

  // Some frameworks (ASP.NET Core, for one) bind JSON properties case-insensitively, so a
  // key that differs only in case may be the one the app reads.
  const field = route.usernameField.toLowerCase();
  const keys = topLevelKeys(text).filter((key) => key.toLowerCase() === field);
  if (keys.length > 1) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the key "${route.usernameField}" appears ${keys.length} times (counting keys that differ only in case); send it once`);
  }

  const value = keys.length === 1 ? (document as Record<string, unknown>)[keys[0]] : undefined;
  return checkUsername(value, route);
}

/**
 * Read the username field of URL-encoded text. Field names are matched ignoring case, as
 * some frameworks bind them. Text the app could read another way is rejected: a repeated
 * field, the bracket or dotted forms (`username[]`, `username[0]`, `username.x`) that
 * nested-parameter parsers turn into arrays or objects, and text whose username reads
 * differently when `;` also separates fields, as it does in some older parsers.
 */
function formValue(text: string, route: LoginRoute, where: string): string | undefined {
  const field = route.usernameField.toLowerCase();
  const entries = [...new URLSearchParams(text)];

  const nested = entries.find(([key]) => {
    const name = key.toLowerCase();
    return name.startsWith(`${field}[`) || name.startsWith(`${field}.`);
  });
  if (nested) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the ${where} names the field "${nested[0].slice(0, 64)}"; send "${route.usernameField}" as one plain field`);
  }

  const values = entries.filter(([key]) => key.toLowerCase() === field).map(([, value]) => value);
  if (text.includes(';')) {
    const loose = [...new URLSearchParams(text.replaceAll(';', '&'))]
      .filter(([key]) => key.toLowerCase() === field)
      .map(([, value]) => value);
    if (loose.length !== values.length || loose.some((value, index) => value !== values[index])) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the ${where} separates fields with ";", so "${route.usernameField}" can be read two ways; separate fields with "&"`);
    }
  }
  if (values.length > 1) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the field "${route.usernameField}" appears ${values.length} times in the ${where} (counting names that differ only in case); send it once`);
  }
  return checkUsername(values[0], route);
}

function checkUsername(value: unknown, route: LoginRoute): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new RequestRejection(400, 'invalid username', `the field "${route.usernameField}" must be a string`);
  }
  return value;
}

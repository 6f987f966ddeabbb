import type { LoginRoute } from '../config/types.js';
import { RequestRejection } from './body.js';

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
 * username field, a username that is not a string) is rejected, never guessed.
 */
export function parseLoginBody(body: Buffer, contentType: string | undefined, route: LoginRoute): ParsedLogin {
  const format = bodyFormat(contentType, route);
  if (body.length === 0) {
    return { username: undefined, format };
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

  return format === 'json' ? parseJson(text, route) : parseForm(text, route);
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

function parseJson(text: string, route: LoginRoute): ParsedLogin {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body must be a JSON object');
  }

  const value = (document as Record<string, unknown>)[route.usernameField];
  return { username: checkUsername(value, route), format: 'json' };
}

function parseForm(text: string, route: LoginRoute): ParsedLogin {
  const values = new URLSearchParams(text).getAll(route.usernameField);
  if (values.length > 1) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the field "${route.usernameField}" appears ${values.length} times; send it once`);
  }
  return { username: checkUsername(values[0], route), format: 'form' };
}

function checkUsername(value: unknown, route: LoginRoute): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new RequestRejection(400, 'invalid username', `the field "${route.usernameField}" must be a string`);
  }
  return value;
}

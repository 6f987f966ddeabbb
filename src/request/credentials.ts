import type { LoginRoute } from '../config/types.js';
import { RequestRejection } from './body.js';
import { cookieNameReadings, foldFieldName, formParserReadingAs, jsonFieldPath, jsonKeyReadsAs } from './field-names.js';
import { nestedKeys, topLevelKeys } from './json-keys.js';
import { opensLikeJsonObject } from './linear-text.js';
import { queryFields } from './query-route.js';
import { formPasswordReading, jsonPasswordReading } from './password-fields.js';

/** The username a login body carries, or `undefined` when it names none. */
export interface ParsedLogin {
  username: string | undefined;
  format: 'json' | 'form';
  /**
   * True when the body or query fills the route's password field and names no OAuth grant
   * other than `password`: a token endpoint's refresh or client grant ignores the field.
   */
  password: boolean;
  /**
   * True when some reading of the body's password field contains a password, though `password`
   * may be false: another copy is empty, or the login names another grant.
   */
  passwordSent: boolean;
  /** True when every field of the route's `success_fields` has a listed value. */
  successFields: boolean;
  /**
   * The non-empty values of `_failure_path`, where Symfony's form login sends a failed login
   * when the request names one. A redirect there proves nothing about the password.
   */
  failurePaths: string[];
  /**
   * True when the username came from the query string alone. An app may not read it there:
   * an identifier-first login's password step signs in the account its session holds.
   */
  usernameInQueryOnly: boolean;
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
  return parseBodyAndQuery(body, contentType, route, query);
}

/**
 * Remove from a login's `Cookie` header every cookie that an app could read as a login field
 * with another value than riskgate judged. One is a cookie named as the username field whose
 * value is not the login's username, as `isLoginUsername` compares them. Others are a cookie
 * named as a `success_fields` field with a value not listed, and a `grant_type` cookie other
 * than `password`, and any cookie named as the password field. PHP's $_REQUEST (with the default `variables_order` and no `request_order`)
 * lets cookies override form fields, and ASP.NET's Request[] falls back to cookies, so such
 * an app could otherwise check the password of the account the cookie names, or run another
 * action. Removing the cookie, not refusing the login, keeps a cookie that a sibling
 * subdomain planted from locking that browser out. A cookie that repeats the username, as a
 * "remember me" cookie does, stays. Some cookie parsers split on `,` as well as `;`, so a
 * `;`-separated pair is removed whole when any of its `,`-separated parts conflicts. Cut at
 * the comma, `password=1,__Host-sess=x` would forward text of a value as a cookie of its
 * own. Returns the header to forward, the same string when nothing was removed, or
 * undefined when no cookie is left.
 */
export function removeConflictingLoginCookies(
  cookieHeader: string | undefined,
  route: LoginRoute,
  isLoginUsername: (value: string) => boolean,
): { header: string | undefined; removed: number } {
  if (!cookieHeader) return { header: cookieHeader, removed: 0 };
  const checks: CookieCheck[] = [
    { field: route.usernameField, allowed: isLoginUsername },
    ...Object.entries(route.successFields).map(([field, listed]) => ({ field, allowed: (value: string) => listed.includes(value) })),
    { field: 'grant_type', allowed: (value: string) => value === 'password' },
    // A password cookie would be checked in place of the body's, or of none, so any goes.
    { field: route.passwordField, allowed: () => false },
  ];

  const remaining: string[] = [];
  let removed = 0;
  let start = 0;
  while (start <= cookieHeader.length) {
    const found = cookieHeader.indexOf(';', start);
    const end = found === -1 ? cookieHeader.length : found;
    const pair = cookieHeader.slice(start, end);
    if (pair.split(',').some((part) => conflicts(part, checks))) {
      removed += 1;
    } else {
      // Each remaining cookie keeps the separator the client put before it.
      remaining.push(remaining.length === 0 ? pair.trimStart() : `${cookieHeader[start - 1] ?? ''}${pair}`);
    }
    start = end + 1;
  }

  if (removed === 0) return { header: cookieHeader, removed };
  const header = remaining.join('').trim();
  return { header: header === '' ? undefined : header, removed };
}

/** A login field that a cookie may name, and the values such a cookie may carry. */
interface CookieCheck {
  field: string;
  allowed: (value: string) => boolean;
}

/** Return whether one `name=value` cookie pair names a checked field with a value it may not carry. */
function conflicts(pair: string, checks: readonly CookieCheck[]): boolean {
  const separator = pair.indexOf('=');
  if (separator === -1) return false;
  // PHP skips leading spaces in a variable name, and older PHP releases decode cookie names.
  const names = cookieNameReadings(pair.slice(0, separator)).map((name) => name.replace(/^ +/, '').replace(/[ .]/g, '_'));
  const check = checks.find(({ field }) => names.some((name) =>
    foldFieldName(name) === foldFieldName(field.replace(/[ .]/g, '_')) || formParserReadingAs(name, field) !== undefined));
  if (check === undefined) return false;

  // Node reads header bytes as Latin-1, and apps read a cookie's bytes, raw or escaped, as
  // UTF-8 or as Latin-1. So a value with a byte outside visible ASCII, with escapes that are
  // not UTF-8, or with a `%u` escape can name another account in the app, whatever it
  // repeats here.
  const raw = pair.slice(separator + 1).trim();
  if (/[^\x20-\x7e]/.test(raw) || PERCENT_U.test(raw)) return true;
  // PHP keeps a `+` in a cookie value, where form decoders read a space, so both readings
  // must be allowed.
  const readings = new Set([raw, raw.replaceAll('+', ' ')]);
  for (const reading of readings) {
    let value: string;
    try {
      value = decodeURIComponent(reading);
    } catch {
      return true;
    }
    if (!check.allowed(value)) return true;
  }
  return false;
}

/** A `%uXXXX` escape, which ASP.NET (System.Web) and classic ASP decode as UTF-16. */
const PERCENT_U = /%u[0-9a-f]{4}/i;

function parseBodyAndQuery(body: Buffer, contentType: string | undefined, route: LoginRoute, query: string): ParsedLogin {
  const format = bodyFormat(contentType, route);
  // ASP.NET reads the query string with the same %u decoding as a form body (see below).
  if (PERCENT_U.test(query)) {
    throw new RequestRejection(400, 'ambiguous login query',
      'the query string contains a %u escape, which ASP.NET decodes and other parsers do not; send UTF-8 percent-escapes');
  }
  const fromQuery = formValue(query, route, 'query string');
  // Only the body's password counts as filled (see jsonPasswordReading): most apps read
  // no password from the query of a POST. PHP's $_REQUEST and Spring's getParameter do, so
  // a password there is still sent.
  const sentInQuery = formPasswordReading(query, route.passwordField).sent;
  if (body.length === 0) {
    return {
      username: fromQuery,
      format,
      password: false,
      passwordSent: sentInQuery,
      successFields: fieldsListed(route, query, undefined),
      failurePaths: clientFailurePaths(query, undefined),
      usernameInQueryOnly: fromQuery !== undefined,
    };
  }

  // A Tomcat app that sets no request encoding reads a form without a charset as
  // ISO-8859-1, where every byte is a character: `%C3%87lice` is `Ã`, a control character
  // the collation ignores, and lice.
  const charset = format === 'form' && route.formCharset === 'iso-8859-1' && !namesCharset(contentType) ? 'iso-8859-1' : 'utf-8';
  let text: string;
  if (charset === 'iso-8859-1') {
    text = body.toString('latin1');
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new RequestRejection(400, 'invalid request body', 'the login body is not valid UTF-8');
    }
    if (text.startsWith(UTF8_BOM)) {
      text = text.slice(1);
    }
  }

  // A form never carries a raw line break inside it: browsers send one as %0D%0A. An HTTP
  // request does, and an app that rejects a login without reading its body (a 415 before
  // parsing) reads such a body as the next request on its connection: a login riskgate
  // never judged. A trailing line break passes, as some clients add one.
  if (format === 'form' && /[\r\n]/.test(text.trimEnd())) {
    throw new RequestRejection(400, 'invalid request body',
      'the form body contains a raw line break; send line breaks in a form as %0D%0A');
  }
  // ASP.NET (System.Web) decodes %uXXXX escapes and trims field names, so `user%u006eame`
  // and `username ` name the username field there while other parsers read other names.
  if (format === 'form' && PERCENT_U.test(text)) {
    throw new RequestRejection(400, 'ambiguous login body',
      'the form body contains a %u escape, which ASP.NET decodes and other parsers do not; send UTF-8 percent-escapes');
  }
  // A form never contains a raw NUL: browsers send it as %00. UTF-16 and UTF-32 text does,
  // and Python's json.loads reads such a body as JSON whatever the Content-Type.
  if (format === 'form' && text.includes('\u0000')) {
    throw new RequestRejection(400, 'invalid request body',
      'the form body contains a NUL byte, as UTF-16 or UTF-32 text does; send the form as UTF-8 with %00 for a NUL');
  }
  // Handlers that decode JSON whatever the Content-Type read a username where a form
  // parser finds none. Their JSON readers differ: Python takes NaN, Go's decoder stops
  // after the first value, Ruby and Gson skip comments. So any form that opens like a JSON
  // object, after spaces and comments, is refused, valid JSON or not. Browsers send `{` in a
  // form as %7B and `/` as %2F. A form opening with `[` names a nested field, which the
  // field-name checks below refuse by name.
  if (format === 'form' && opensLikeJsonObject(text)) {
    throw new RequestRejection(400, 'ambiguous login body',
      'the body is sent as a form but opens like a JSON object; send JSON with Content-Type: application/json, or percent-encode a form\'s "{"');
  }
  // Some handlers read every body as a form whatever its Content-Type (Bottle's
  // request.forms, PHP's parse_str of php://input), so a JSON body must not name the
  // username field when read as a form. An ordinary JSON object reads as one nameless field.
  if (format === 'json') rejectFormReading(text, route);
  const json = format === 'json' ? parseJson(text, route) : undefined;
  const fromBody = json ? json.username : formValue(text, route, 'body', charset);
  if (fromQuery !== undefined && fromBody !== undefined && fromQuery !== fromBody) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the field "${route.usernameField}" differs between the query string and the body; send it in the body only`);
  }
  // PHP and Go keep a byte order mark as part of the first field's name.
  const formText = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? `${UTF8_BOM}${text}` : text;
  const reading = json ? jsonPasswordReading(json.document, route.passwordField) : formPasswordReading(formText, route.passwordField);
  const parsedBody = json ? json.document : text;
  const password = reading.filled && passwordGrant(query, parsedBody);
  const successFields = fieldsListed(route, query, parsedBody);
  return {
    username: fromBody ?? fromQuery,
    format,
    password,
    passwordSent: reading.sent || sentInQuery,
    successFields,
    failurePaths: clientFailurePaths(query, parsedBody),
    usernameInQueryOnly: fromBody === undefined && fromQuery !== undefined,
  };
}

/** Return the non-empty values a login gives for Symfony's `_failure_path`, under any spelling a parser reads as it. */
function clientFailurePaths(query: string, body: string | object | undefined): string[] {
  return fieldValues('_failure_path', query, body).filter((value) => value !== '');
}

/**
 * Return whether each field of the route's `success_fields` has one of its listed values
 * wherever it appears (query, form or top-level JSON key, under any spelling that a parser
 * reads as its name), `''` standing for absent.
 */
function fieldsListed(route: LoginRoute, query: string, body: string | object | undefined): boolean {
  const fields = Object.entries(route.successFields);
  if (fields.length === 0) return true;
  return fields.every(([name, allowed]) => {
    const values = fieldValues(name, query, body);
    return values.length === 0 ? allowed.includes('') : values.every((value) => allowed.includes(value));
  });
}

/**
 * Return whether a login's OAuth `grant_type`, if it names one, is the password grant
 * (RFC 6749 section 4.3). Every spelling of the field must name it.
 */
function passwordGrant(query: string, body: string | object | undefined): boolean {
  return fieldValues('grant_type', query, body).every((value) => value === 'password');
}

/**
 * Return the values that apps read for the field `field`. These are the query's and the
 * form's fields under any spelling that a parser reads as that name, such as ` action` and
 * `action[]` in PHP. A JSON body's top-level keys count under each spelling that
 * jsonKeyReadsAs accepts. A JSON value that is not a string reads as its JSON text, so an
 * object never matches a listed string.
 */
function fieldValues(field: string, query: string, body: string | object | undefined): string[] {
  const values = [...formFieldValues(query, field)];
  if (typeof body === 'string') values.push(...formFieldValues(body, field));
  if (typeof body === 'object') {
    for (const [key, value] of Object.entries(body)) {
      if (jsonKeyReadsAs(key, field)) values.push(typeof value === 'string' ? value : JSON.stringify(value));
    }
  }
  return values;
}

function formFieldValues(text: string, field: string): string[] {
  if (text === '') return [];
  const folded = foldFieldName(field);
  const values: string[] = [];
  for (const [name, value] of queryFields(text)) {
    if (foldFieldName(name) === folded || formParserReadingAs(name, field) !== undefined) values.push(value);
  }
  return values;
}

/**
 * Labels of UTF-8 that both browsers (the WHATWG Encoding Standard) and Java read as UTF-8.
 * WHATWG also maps `unicode20utf8` and `x-unicode20utf8` to UTF-8, and trims white space
 * inside a quoted label. Java has no charset of such a name, and Tomcat then reads the body
 * in its default charset, ISO-8859-1. So only these are read as UTF-8.
 */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8']);

/** Return whether a charset parameter's value (lower case, unquoted) names UTF-8 in browsers and in Java alike. */
function isUtf8Label(charset: string): boolean {
  return UTF8_LABELS.has(charset);
}

function bodyFormat(contentType: string | undefined, route: LoginRoute): 'json' | 'form' {
  const [type, ...parameters] = (contentType ?? '').split(';');
  const mediaType = type.trim().toLowerCase();
  // A type the route does not take (multipart, text) is named first, since its parameters
  // (a multipart boundary) are no fault of their own.
  if (!/^application\/(?:json|[a-z0-9.+-]+\+json|x-www-form-urlencoded)$/.test(mediaType)) rejectMediaType(mediaType, route);
  // Parsers differ on white space around `=` and on which of two charsets wins, so every
  // spelling is read and more than one charset is rejected.
  const charsets = parameters.map(parseParameter).filter(([name]) => name === 'charset').map(([, value]) => value);
  if (charsets.length > 1) {
    throw new RequestRejection(400, 'ambiguous login headers',
      `the Content-Type names a charset ${charsets.length} times; send charset=utf-8 once`);
  }
  if (charsets.length === 1 && !isUtf8Label(charsets[0])) {
    throw new RequestRejection(415, 'unsupported charset', `login bodies must be UTF-8, not ${charsets[0].slice(0, 32)}`);
  }
  // Laravel reads a body as JSON when the Content-Type contains `+json` or `/json` anywhere,
  // parameters included, so only the charset may follow the media type.
  // An empty segment (`application/json;`) passes, but not one with an empty name (`;=/json`).
  const other = parameters.find((parameter) => parameter.trim() !== '' && parseParameter(parameter)[0] !== 'charset');
  if (other !== undefined) {
    throw new RequestRejection(400, 'ambiguous login headers',
      `the Content-Type carries the parameter "${other.trim().slice(0, 32)}"; send the media type and at most charset=utf-8`);
  }

  const isJson = mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
  const isForm = mediaType === 'application/x-www-form-urlencoded';
  if (isJson && route.body !== 'form') return 'json';
  if (isForm && route.body !== 'json') return 'form';

  return rejectMediaType(mediaType, route);
}

function rejectMediaType(mediaType: string, route: LoginRoute): never {
  const accepted = route.body === 'auto' ? 'application/json or application/x-www-form-urlencoded'
    : route.body === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
  throw new RequestRejection(415, 'unsupported media type',
    `Content-Type "${mediaType.slice(0, 64) || '(none)'}" is not accepted on this login route; send ${accepted}`);
}

/** Split one media type parameter into its lower-case name and unquoted, lower-case value. */
function parseParameter(parameter: string): [string, string] {
  const separator = parameter.indexOf('=');
  if (separator === -1) return [parameter.trim().toLowerCase(), ''];
  const value = parameter.slice(separator + 1).trim().replace(/^"(.*)"$/, '$1');
  return [parameter.slice(0, separator).trim().toLowerCase(), value.toLowerCase()];
}

/** Maximum nesting of objects and arrays in a JSON login body. */
const MAX_JSON_DEPTH = 64;

/** Return the deepest nesting of objects and arrays in JSON text, counting outside strings only. */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c) index += 1;
      else if (code === 0x22) inString = false;
      continue;
    }
    if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return deepest;
}

function parseJson(text: string, route: LoginRoute): { username: string | undefined; document: object } {
  // Readers of the document walk it recursively, and a body nested thousands deep would
  // overflow the stack there. No login body needs more than a few levels.
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) {
    throw new RequestRejection(400, 'invalid JSON body',
      `the login body is nested ${depth} levels deep; send at most ${MAX_JSON_DEPTH}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RequestRejection(400, 'invalid JSON body', 'the login body must be a JSON object');
  }

  // A JavaScript app that copies the body (Object.assign, spread into a merge) turns a
  // `__proto__` key into the copy's prototype, so `{"__proto__":{"username":"alice"}}`
  // reads as alice there and as no username here. Fastify refuses such bodies too.
  const prototype = prototypeKey(text, document);
  if (prototype !== undefined) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the body has a "${prototype}" key, which JavaScript apps that copy or merge objects read as a prototype; remove it`);
  }

  // C JSON parsers (cJSON, json-c) end a key at its first NUL, so
  // `"username\u0000x"` names the username there and no field here. No login form sends one.
  const cut = nulKey(text, document);
  if (cut !== undefined) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the key "${cut.replaceAll('\u0000', '\\u0000').slice(0, 64)}" contains a NUL character, at which parsers written in C end it; remove it`);
  }

  const allKeys = topLevelKeys(text);
  // Each top-level key is compared with the route's fields under every binder's reading, so
  // 6,500 short keys in a 57 KB body cost 15 ms where one long value costs 0.2 ms.
  if (allKeys.length > MAX_FORM_FIELDS) {
    throw new RequestRejection(413, 'too many JSON keys',
      `the JSON body has ${allKeys.length} top-level keys; send at most ${MAX_FORM_FIELDS}, as a login form has far fewer fields`);
  }
  rejectMethodOverride(allKeys, 'body');

  // A form field name such as `session[email]` names a nested key in JSON. Rails wraps the
  // keys of a JSON body under the controller's key when the body has none (ParamsWrapper),
  // so without `session` the app reads the top-level `email`.
  const path = jsonFieldPath(route.usernameField);
  if (path.length === 2) {
    const outer = uniqueKey(allKeys, path[0], route);
    if (outer === undefined) return { username: checkUsername(topLevelValue(document, allKeys, path[1], route), route), document };
    // Rails looks for its wrapper key in its own case only, so beside `Session` it wraps the
    // top-level `email`, where Go and ASP.NET Core read `Session.email`.
    if (outer !== path[0] && allKeys.some((key) => jsonKeyReadsAs(key, path[1]))) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the key "${outer.slice(0, 64)}" differs from "${path[0]}" in case, and the body also has a top-level "${path[1]}": ` +
          `Rails reads the top-level one and other binders the nested one; send "${path[0]}"`);
    }
    const inner = (document as Record<string, unknown>)[outer];
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) {
      throw new RequestRejection(400, 'invalid login body', `the key "${path[0]}" must hold an object with the key "${path[1]}"`);
    }
    // Go's encoding/json and ASP.NET Core bind nested keys without regard to case too.
    const innerKeys = nestedKeys(text, outer);
    if (innerKeys.length > MAX_FORM_FIELDS) {
      throw new RequestRejection(413, 'too many JSON keys',
        `the key "${path[0]}" holds ${innerKeys.length} keys; send at most ${MAX_FORM_FIELDS}, as a login form has far fewer fields`);
    }
    const innerKey = uniqueKey(innerKeys, path[1], route);
    return { username: checkUsername(innerKey === undefined ? undefined : (inner as Record<string, unknown>)[innerKey], route), document };
  }
  return { username: checkUsername(topLevelValue(document, allKeys, route.usernameField, route), route), document };
}

/** Return the value of the top-level key `field`, refusing a body that spells it twice or in another case. */
function topLevelValue(document: object, allKeys: string[], field: string, route: LoginRoute): unknown {
  const key = uniqueKey(allKeys, field, route);
  return key === undefined ? undefined : (document as Record<string, unknown>)[key];
}

/** Return the top-level key that is `name`, or undefined, refusing a body that spells it twice or in another case. */
function uniqueKey(allKeys: string[], name: string, route: LoginRoute): string | undefined {
  // Some frameworks (ASP.NET Core, for one) bind JSON properties case-insensitively, and
  // fastjson ignores `_`, `-` and a leading `is` too, so such a key may be the one the app reads.
  const field = name.toLowerCase();
  const folded = allKeys.find((key) => key.toLowerCase() !== field && jsonKeyReadsAs(key, field));
  if (folded !== undefined) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the key "${folded.slice(0, 64)}" is read as "${route.usernameField}" by JSON binders that fold case or ignore "_", "-" or "is", ` +
        `such as Go's encoding/json and fastjson; send "${route.usernameField}"`);
  }
  const keys = allKeys.filter((key) => key.toLowerCase() === field);
  if (keys.length > 1) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the key "${route.usernameField}" appears ${keys.length} times (counting keys that differ only in case); send it once`);
  }

  return keys[0];
}

/**
 * Most fields a login form may have, and most keys a JSON login's object may have. PHP reads
 * only the first 1,000 (max_input_vars) and Express's body parser refuses more, so past it
 * riskgate and the app could read different fields. Each field also costs parsing time.
 */
const MAX_FORM_FIELDS = 1000;

/**
 * Count fields as the loosest reading does, with both `&` and `;` as separators. Empty
 * fields count, because qs counts them toward its limit of 1,000 and reads none after it.
 */
function countFields(text: string): number {
  let fields = 1;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 0x26 || code === 0x3b) fields += 1;
  }
  return fields;
}

/**
 * Return `__proto__` or `constructor.prototype` when the parsed document has such a key at
 * any depth. Text without those words or a `\u` escape cannot have one, so the walk is
 * skipped for it.
 */
function prototypeKey(text: string, document: object): string | undefined {
  if (!text.includes('__proto__') && !text.includes('prototype') && !text.includes('\\u')) return undefined;

  const pending: object[] = [document];
  while (pending.length > 0) {
    const node = pending.pop()!;
    for (const key of Object.keys(node)) {
      if (key === '__proto__') return '__proto__';
      const value = (node as Record<string, unknown>)[key];
      if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) {
        return 'constructor.prototype';
      }
      if (typeof value === 'object' && value !== null) pending.push(value);
    }
  }
  return undefined;
}

/** Return the first key that contains a NUL, at any depth. JSON text spells a NUL in a string only as `\u0000`. */
function nulKey(text: string, document: object): string | undefined {
  if (!text.includes('\\u0000')) return undefined;

  const pending: object[] = [document];
  while (pending.length > 0) {
    const node = pending.pop()!;
    for (const [key, value] of Object.entries(node)) {
      if (key.includes('\u0000')) return key;
      if (typeof value === 'object' && value !== null) pending.push(value);
    }
  }
  return undefined;
}

/**
 * Read the username field of URL-encoded text. Field names are matched ignoring case, as
 * some frameworks bind them. Text the app could read another way is rejected: a repeated
 * field, the bracket or dotted forms (`username[]`, `username[0]`, `username.x`) that
 * nested-parameter parsers turn into arrays or objects, other names that such parsers read
 * as the field (`[username]`, ` username`), and text whose username reads differently when
 * `;` also separates fields, as it does in some older parsers.
 */
function formValue(text: string, route: LoginRoute, where: string, charset: 'utf-8' | 'iso-8859-1' = 'utf-8'): string | undefined {
  const fields = countFields(text);
  if (fields > MAX_FORM_FIELDS) {
    throw new RequestRejection(413, 'too many form fields',
      `the ${where} has ${fields} fields, counting empty ones between separators; send at most ${MAX_FORM_FIELDS}, ` +
        'since parsers such as qs stop reading there, empty fields included');
  }
  const field = route.usernameField.toLowerCase();
  const entries = [...new URLSearchParams(text)];
  const looseEntries = text.includes(';') ? [...new URLSearchParams(text.replaceAll(';', '&'))] : entries;
  const names = new Set([...entries, ...looseEntries].map(([key]) => key));
  rejectFieldSpellings(names, route, where);
  rejectBindingPrefixes(names, route, where);
  rejectMethodOverride(names, where);

  const values = entries.filter(([key]) => key.toLowerCase() === field).map(([, value]) => value);
  if (text.includes(';')) {
    const loose = looseEntries
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
  if (values.length === 1 && charset === 'iso-8859-1') return checkUsername(latin1FieldValue(text, field), route);
  if (values.length === 1) checkPercentEncoding(text, field, route, where);
  return checkUsername(values[0], route);
}

/** Return whether a Content-Type names a charset (bodyFormat has checked that it is UTF-8). */
function namesCharset(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';').slice(1).some((parameter) => parseParameter(parameter)[0] === 'charset');
}

/**
 * Return the form field's value as a Tomcat app without a request encoding reads it, in
 * ISO-8859-1, where each percent-escape is one byte and so one character. `text` contains
 * the body's bytes as ISO-8859-1 characters. The caller has checked that the field appears once.
 */
function latin1FieldValue(text: string, field: string): string | undefined {
  const [pair] = fieldPairs(text, field);
  if (pair === undefined) return undefined;
  const separator = pair.indexOf('=');
  const raw = separator === -1 ? '' : pair.slice(separator + 1);
  return raw.replaceAll('+', ' ').replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Return the `name=value` pairs of a form, as sent, whose decoded name is `field` in any case. */
function fieldPairs(text: string, field: string): string[] {
  return text.split('&').filter((pair) => {
    const [entry] = new URLSearchParams(pair);
    return entry !== undefined && entry[0].toLowerCase() === field;
  });
}

/** Reject a JSON body that a form parser reads as naming the username field. */
function rejectFormReading(text: string, route: LoginRoute): void {
  if (!text.includes('=')) return;
  const field = route.usernameField.toLowerCase();
  for (const [name] of new URLSearchParams(text.replaceAll(';', '&'))) {
    const lower = name.toLowerCase();
    if (lower.trim() === field || lower.startsWith(`${field}[`) || formParserReadingAs(name, route.usernameField) !== undefined) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the JSON body reads as a form with the field "${route.usernameField}", as parsers that read any body as a form see it; ` +
          'do not put form fields in JSON text');
    }
  }
}

/**
 * Reject a `_method` field. Rails (Rack::MethodOverride), Laravel, Symfony and Express's
 * method-override run a POST with `_method=GET` as a GET, so the app would return its
 * login page, which riskgate would count as a success for the posted username.
 */
function rejectMethodOverride(names: Iterable<string>, where: string): void {
  for (const name of names) {
    if (name.toLowerCase() === '_method' || formParserReadingAs(name, '_method') !== undefined) {
      throw new RequestRejection(400, 'method override on a login',
        `the ${where} names the field "${name.slice(0, 64)}", which frameworks read as another request method; remove it`);
    }
  }
}

/**
 * Reject a field name that nests a value under the username field, or that a common parser
 * reads as the username field although it is spelled another way.
 */
function rejectFieldSpellings(names: ReadonlySet<string>, route: LoginRoute, where: string): void {
  const field = route.usernameField.toLowerCase();
  for (const name of names) {
    const lower = name.toLowerCase();
    if (lower.startsWith(`${field}[`) || lower.startsWith(`${field}.`)) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the ${where} names the field "${name.slice(0, 64)}"; send "${route.usernameField}" as one plain field`);
    }

    if (lower !== field && lower.trim() === field) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the ${where} names the field "${name.slice(0, 64)}", which parsers that trim names read as "${route.usernameField}"; ` +
          `send "${route.usernameField}" as one plain field`);
    }
    const parser = formParserReadingAs(name, route.usernameField);
    if (parser !== undefined) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the ${where} names the field "${name.slice(0, 64)}", which ${parser} reads as "${route.usernameField}"; ` +
          `send "${route.usernameField}" as one plain field`);
    }
  }
}

/**
 * Reject the names that ASP.NET's model binder reads as the username field through a prefix.
 * It binds an action parameter named `model` from `model.Email` as well as from `Email`. It
 * binds a page property `Input` from `Email` alone when no field starts with `Input`, as the
 * Identity login page's `Input.Email` does.
 */
function rejectBindingPrefixes(names: ReadonlySet<string>, route: LoginRoute, where: string): void {
  const path = jsonFieldPath(route.usernameField).map((segment) => segment.toLowerCase());
  const segmentsOf = (name: string) => name.toLowerCase().split(/[.[\]]+/).filter((segment) => segment !== '');

  for (const name of names) {
    const segments = segmentsOf(name);
    if (segments.length > path.length && path.every((segment, index) => segments[segments.length - path.length + index] === segment)) {
      throw new RequestRejection(400, 'ambiguous login body',
        `the ${where} names the field "${name.slice(0, 64)}", which ASP.NET's model binder reads as "${route.usernameField}"; ` +
          `send "${route.usernameField}" as one plain field`);
    }
  }

  if (path.length < 2) return;
  const prefixed = [...names].some((name) => segmentsOf(name)[0] === path[0] && segmentsOf(name).length > 1);
  const bare = [...names].find((name) => segmentsOf(name).join('.') === path.slice(1).join('.'));
  if (!prefixed && bare !== undefined) {
    throw new RequestRejection(400, 'ambiguous login body',
      `the ${where} names the field "${bare.slice(0, 64)}" and no field under "${jsonFieldPath(route.usernameField)[0]}", ` +
        `so ASP.NET's model binder reads it as "${route.usernameField}"; send "${route.usernameField}"`);
  }
}

/**
 * Reject a username field whose percent-escapes are not UTF-8. URLSearchParams turns them
 * into U+FFFD, while qs (the parser of Express's extended form bodies) keeps them as text,
 * so the two would read different names.
 */
function checkPercentEncoding(text: string, field: string, route: LoginRoute, where: string): void {
  for (const pair of fieldPairs(text, field)) {
    // Only escapes of two hex digits are decoded. URLSearchParams and qs both keep a stray `%` as text.
    const value = pair.slice(pair.indexOf('=') + 1).replaceAll('+', ' ').replace(/%(?![0-9a-fA-F]{2})/g, '%25');
    try {
      decodeURIComponent(value);
    } catch {
      throw new RequestRejection(400, 'invalid username',
        `the field "${route.usernameField}" in the ${where} has percent-escapes that are not UTF-8; encode it as UTF-8`);
    }
  }
}

function checkUsername(value: unknown, route: LoginRoute): string | undefined {
  if (value === undefined) return undefined;
  // A null would count as no username, judged by the address alone, while a document store
  // matches it to every record without the field.
  if (typeof value !== 'string') {
    throw new RequestRejection(400, 'invalid username', `the field "${route.usernameField}" must be a string`);
  }
  // A JSON escape such as \ud800 makes a lone surrogate, which parsers and hash functions
  // each replace or keep in their own way, so the app and riskgate could name two accounts.
  if (/\p{Surrogate}/u.test(value)) {
    throw new RequestRejection(400, 'invalid username',
      `the field "${route.usernameField}" contains an unpaired UTF-16 surrogate; send valid Unicode`);
  }

  return value;
}

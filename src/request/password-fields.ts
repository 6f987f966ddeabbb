import { cookieNameReadings, foldFieldName, formParserReadingAs, jsonFieldPath, jsonKeyReadsAs } from './field-names.js';

/**
 * Field names that read as a password, in English and the languages apps often name them
 * in, matched after characters that parsers drop are removed: `pass`, `pwd`, `psw` (the
 * W3Schools form), `pw`, `pin`, `secret`, and the words of other languages.
 */
const PASSWORD_NAME =
  /pass|pwd|^psw|^pw$|^pin$|secret|senha|kennwort|contrase|parol|пароль|wachtwoord|has[lł]o|heslo|salasana|adgangskode|[sş]ifre|lozinka|jelsz[oó]|l[öo]senord|geslo|slapta|sandi|密码|密碼|パスワード|비밀번호/i;

/**
 * Tell whether a field name reads as a password, or as one of the routes' own
 * `password_field` names. Binders that compare names by case folding read `ſ` as `s` and
 * `K` (U+212A) as `k`, so the name is folded as foldFieldName folds it first. A route's own
 * name counts also in each spelling that a common parser reads as it. PHP reads ` clave`
 * and `clave%00x` as `clave`, ASP.NET trims `clave `, and Spring's data binder reads
 * `!clave`. qs reads `[clave]` as `clave`, and `user[clave]` as the JSON field `user.clave`.
 */
export function readsAsPassword(name: string, configured: ReadonlySet<string>): boolean {
  const folded = foldFieldName(name).toLowerCase();
  if (configured.has(name.toLowerCase()) || configured.has(folded) || configured.has(folded.trim())) return true;
  if (PASSWORD_NAME.test(folded.replace(/[^\p{L}\p{N}]/gu, '').replace(NOT_PASSWORD_WORDS, ''))) return true;
  for (const field of configured) if (formParserReadingAs(name, field) !== undefined) return true;
  return false;
}

/**
 * Words that contain `pass` but name no password, which login page links carry
 * (`/login?passkey=1`, `?passwordless=true`). They are dropped before PASSWORD_NAME is tried,
 * so `passkey_password` still reads as a password.
 */
const NOT_PASSWORD_WORDS = /passkeys?|passwordless|passport|compass|passage|passenger|passthrough|bypass/g;

/**
 * How a login body fills its password field: `filled` when every reading that some app
 * makes of the field contains a password, and `sent` when at least one does. A login that is
 * sent but not filled may have had its password checked, or may not.
 */
export interface PasswordReading {
  filled: boolean;
  sent: boolean;
}

/**
 * Read how a parsed JSON login body fills the route's password field: the top-level key of
 * exactly that name, or, for a field such as `user.password`, the key at that path. Only the
 * field as the app reads it counts. An identifier-first app returns a 2xx for its username
 * step when it finds no password, so a field it does not read (`Password`, a nested
 * `password`, a number) would turn that step into a success.
 */
export function jsonPasswordReading(document: object, field: string): PasswordReading {
  const keys = jsonFieldPath(field);
  // Rails wraps a JSON body's top-level keys under the controller's key when the body has
  // no such key (ParamsWrapper), so `session[password]` is then the top-level `password`. A
  // dotted field (`user.password`) names a JSON path, which no wrapping fills.
  const wrapped = field.includes('[') && keys.length === 2 && !Object.keys(document).some((key) => jsonKeyReadsAs(key, keys[0]!));
  const read = wrapped ? keys.slice(1) : keys;
  return { filled: jsonFillsPasswordField(document, read), sent: jsonSendsPassword(document, keys) || jsonSendsPassword(document, keys.slice(1)) };
}

function jsonFillsPasswordField(document: object, keys: readonly string[]): boolean {
  let value: unknown = document;
  for (const [index, key] of keys.entries()) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) return false;
    const object = value as Record<string, unknown>;

    // Go's encoding/json also fills a field from a key that differs in case (`PASSWORD`,
    // `paſſword`), the last one winning, and fastjson from `pass_word`. So each such key must
    // hold a password too.
    const others = Object.keys(object).filter((other) => other !== key && jsonKeyReadsAs(other, key));
    const last = index === keys.length - 1;
    if (others.some((other) => !last || !isFilled(object[other]))) return false;
    value = object[key];
  }
  return isFilled(value);
}

/**
 * Tell whether some key path that a binder reads as the field's (see jsonKeyReadsAs) leads to
 * a password. A number or boolean counts too: PHP's password_verify reads 1234 as "1234". So
 * does an array that contains one, since JavaScript reads `["guess"] + salt` as "guesssalt".
 */
function jsonSendsPassword(value: unknown, keys: readonly string[]): boolean {
  if (keys.length === 0) return sendsScalar(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const object = value as Record<string, unknown>;
  return Object.keys(object).some((key) => jsonKeyReadsAs(key, keys[0]) && jsonSendsPassword(object[key], keys.slice(1)));
}

/** Tell whether a JSON value reads as a password once a language turns it into text. */
function sendsScalar(value: unknown, depth = 0): boolean {
  if (Array.isArray(value)) return depth < 8 && value.some((item) => sendsScalar(item, depth + 1));
  return isSent(value) || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * Read how a form body fills the route's password field. It is filled when it has a field
 * of exactly that name, such as `password` or `user[password]`, and each copy of it is
 * filled. So is each field that some parser reads as it (`Password`, PHP's `password%00`),
 * because PHP keeps the last copy and Flask the first. A leading `?` or byte order mark stays
 * part of the first name, as PHP, qs and Go read it, so such a field fills nothing. It is
 * still sent: the WHATWG URLSearchParams (undici's formData) drops a leading `?`, and
 * iconv-lite (Express's body-parser) drops the mark. Go drops a field with a bad escape, and
 * one that contains a `;`, which PHP may split at.
 */
export function formPasswordReading(text: string, field: string): PasswordReading {
  let found = false;
  let every = true;
  let sent = false;
  for (const [index, pair] of text.split('&').entries()) {
    const parts = pair.split(';');
    for (const [position, part] of parts.entries()) {
      const equals = part.indexOf('=');
      const decoded = decodeFormComponent(equals === -1 ? part : part.slice(0, equals));
      const first = index === 0 && position === 0;
      const unmarked = first && decoded !== undefined ? decoded.replace(LEADING_MARKS, '') : decoded;
      if (unmarked !== decoded && unmarked !== undefined && (unmarked === field || formParserReadingAs(unmarked, field) !== undefined ||
        unmarked.toLowerCase() === field.toLowerCase())) {
        const value = equals === -1 ? '' : decodeFormComponent(part.slice(equals + 1));
        sent ||= value !== undefined && isSent(value);
        every = false;
        continue;
      }
      const name = decoded;
      const exact = name === field;
      if (!exact && name?.toLowerCase() !== field.toLowerCase() && (name === undefined || formParserReadingAs(name, field) === undefined)) continue;

      const value = equals === -1 ? '' : decodeFormComponent(part.slice(equals + 1));
      const filled = value !== undefined && isFilled(value);
      sent ||= value !== undefined && isSent(value);
      if (parts.length > 1 || !filled) every = false;
      found ||= exact;
    }
  }
  return { filled: found && every, sent };
}

/** A byte order mark and a `?` that start a form body, which some parsers drop and others keep. */
const LEADING_MARKS = /^\uFEFF?\??/;

/** Decode a form name or value (`+` is a space), or return undefined for one with a bad escape. */
function decodeFormComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * Return whether a value can be a password: a string with a visible character. An app that
 * trims white space, or format characters such as U+200B, finds no password in the rest, and
 * PHP's trim also removes NUL.
 */
function isFilled(value: unknown): boolean {
  return typeof value === 'string' && /[^\s\p{Cf}\p{Cc}]/u.test(value);
}

/**
 * Return whether an app that does not trim control characters may check a value as a
 * password: a string with a character other than white space and format characters.
 */
function isSent(value: unknown): boolean {
  return typeof value === 'string' && /[^\s\p{Cf}]/u.test(value);
}

/** Decode `%uXXXX` escapes as ASP.NET does, so a field name reads as the app reads it. */
function decodePercentU(text: string): string {
  return text.replace(/%u([0-9a-f]{4})/gi, (_, hex: string) => {
    try {
      return encodeURIComponent(String.fromCharCode(Number.parseInt(hex, 16)));
    } catch {
      // A lone surrogate has no UTF-8 form; it names no password field either way.
      return '%EF%BF%BD';
    }
  });
}

/**
 * Tell whether a query string (the request target's part after `?`) has a field whose name
 * reads as a password, also inside brackets or among other characters that parsers drop.
 */
export function queryCarriesPassword(url: string | undefined, configured: ReadonlySet<string>): boolean {
  const start = (url ?? '').indexOf('?');
  if (start === -1) return false;

  for (const [name] of new URLSearchParams(decodePercentU(url!.slice(start + 1)).replaceAll(';', '&'))) {
    if (readsAsPassword(name, configured)) return true;
  }
  return false;
}

/**
 * Cookie names taken as a password field besides the routes' own. Apps name their own
 * cookies freely (`passport`, `pinned`), so these are whole names: any name that ends in
 * `password`, `passwd` or `passphrase` (`j_password`, `txtPassword`), the short forms, and
 * the word for password in the languages PASSWORD_NAME lists.
 */
const PASSWORD_COOKIE =
  /^(?:.*(?:password|passwd|passphrase)|pass|pwd|psw|pswd|pw|senha|kennwort|contrase[nñ]a|parol|пароль|wachtwoord|has[lł]o|heslo|salasana|adgangskode|[sş]ifre|lozinka|jelsz[oó]|l[öo]senord|geslo|slapta[zž]odis|katasandi|密码|密碼|パスワード|비밀번호)$/i;

/**
 * Tell whether a Cookie header has a cookie named as a password field. PHP's $_REQUEST
 * and ASP.NET's Request[] read cookies as request parameters, so a login path reached by
 * GET with the username in its query and the password in a cookie is a login.
 */
export function cookieCarriesPassword(cookieHeader: string | undefined, configured: ReadonlySet<string>): boolean {
  if (!cookieHeader) return false;
  // Cookie parsers split on `;`, and some on `,` too, as RFC 2965 allowed.
  return cookieHeader.split(/[;,]/).some((pair) => isPasswordCookie(pair, configured));
}

/**
 * Remove from a Cookie header every cookie named as a password field, so that an app that
 * reads cookies as request parameters never reads a password where riskgate judges no
 * login. A `;`-separated pair goes whole when one of its `,`-separated parts is such a
 * cookie, so no text of a value is forwarded as a cookie of its own. Returns the header to
 * forward, or undefined when no cookie is left.
 */
export function removePasswordCookies(cookieHeader: string, configured: ReadonlySet<string>): string | undefined {
  const remaining = cookieHeader.split(';')
    .filter((pair) => pair.trim() !== '' && !pair.split(',').some((part) => isPasswordCookie(part, configured)));
  return remaining.length === 0 ? undefined : remaining.map((pair) => pair.trim()).join('; ');
}

function isPasswordCookie(pair: string, configured: ReadonlySet<string>): boolean {
  const separator = pair.indexOf('=');
  if (separator === -1) return false;
  return cookieNameReadings(pair.slice(0, separator)).some((name) => namesPassword(name, configured));
}

/** Tell whether one reading of a cookie name is a password field's name. */
function namesPassword(name: string, configured: ReadonlySet<string>): boolean {
  const folded = foldFieldName(name).toLowerCase();
  if (configured.has(name.toLowerCase()) || configured.has(folded)) return true;
  if (PASSWORD_COOKIE.test(folded.replace(/[^\p{L}\p{N}]/gu, ''))) return true;
  // A nested field (`login[password]`) is read by PHP under names such as `login[password]x`.
  return [...configured].some((field) => field.includes('[') && formParserReadingAs(name, field) !== undefined);
}

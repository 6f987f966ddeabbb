import { foldFieldName } from './field-names.js';

/**
 * Field names that read as a password, in English and the languages apps often name them
 * in, matched after characters that parsers drop are removed: `pass`, `pwd`, `psw` (the
 * W3Schools form), `pw`, `pin`, `secret`, and the words of other languages.
 */
const PASSWORD_NAME =
  /pass|pwd|^psw|^pw$|^pin$|secret|senha|kennwort|contrase|parol|пароль|wachtwoord|has[lł]o|heslo|salasana|adgangskode|[sş]ifre|lozinka|jelsz[oó]|l[öo]senord|geslo|slapta|sandi|密码|密碼|パスワード|비밀번호/i;

/**
 * Tell whether a field name reads as a password, or is one of the routes' own `password_field`
 * names. Binders that compare names by case folding read `ſ` as `s` and `K` (U+212A) as
 * `k`, so the name is folded as foldFieldName folds it first.
 */
export function readsAsPassword(name: string, configured: ReadonlySet<string>): boolean {
  const folded = foldFieldName(name).toLowerCase();
  if (configured.has(name.toLowerCase()) || configured.has(folded)) return true;
  return PASSWORD_NAME.test(folded.replace(/[^\p{L}\p{N}]/gu, ''));
}

/** Most keys walked in a JSON body when looking for the password field, so a large body costs little. */
const MAX_KEYS_WALKED = 1000;

/**
 * Tell whether a parsed JSON login body fills the route's password field, at any depth
 * (`{"user":{"password":"..."}}`), comparing key names as case-insensitive binders do.
 * Only the route's own field counts: an app ignores fields it does not know, so any other
 * name that merely reads as a password could be added to make a request look like a login.
 */
export function jsonFillsPasswordField(document: object, field: string): boolean {
  const pending: object[] = [document];
  let walked = 0;
  while (pending.length > 0 && walked < MAX_KEYS_WALKED) {
    for (const [key, value] of Object.entries(pending.pop()!)) {
      walked += 1;
      if (isFilled(value) && namesField(key, field)) return true;
      if (typeof value === 'object' && value !== null) pending.push(value);
    }
  }
  return false;
}

/**
 * Tell whether a form body or query string fills the route's password field, also in a
 * nested spelling (`user[password]`, `user.password`).
 */
export function formFillsPasswordField(text: string, field: string): boolean {
  if (text === '') return false;
  for (const [name, value] of new URLSearchParams(text)) {
    if (value !== '' && namesField(name.replace(/^.*[[.]/, '').replace(/\]$/, ''), field)) return true;
  }
  return false;
}

/** Return whether a field name is `field`, compared as case-insensitive binders compare them. */
function namesField(name: string, field: string): boolean {
  return name.toLowerCase() === field.toLowerCase() || foldFieldName(name).toLowerCase() === foldFieldName(field).toLowerCase();
}

/** Return whether a JSON value can be a password: a non-empty string, or a number for a numeric PIN. */
function isFilled(value: unknown): boolean {
  return (typeof value === 'string' && value !== '') || typeof value === 'number';
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
 * login. Returns the header to forward, or undefined when no cookie is left.
 */
export function removePasswordCookies(cookieHeader: string, configured: ReadonlySet<string>): string | undefined {
  const remaining = cookieHeader.split(/[;,]/).filter((pair) => pair.trim() !== '' && !isPasswordCookie(pair, configured));
  return remaining.length === 0 ? undefined : remaining.map((pair) => pair.trim()).join('; ');
}

function isPasswordCookie(pair: string, configured: ReadonlySet<string>): boolean {
  const separator = pair.indexOf('=');
  if (separator === -1) return false;
  let name = pair.slice(0, separator).trim();
  try {
    name = decodeURIComponent(name);
  } catch {
    // An undecodable name is read as written.
  }
  const folded = foldFieldName(name).toLowerCase();
  return configured.has(name.toLowerCase()) || configured.has(folded) || PASSWORD_COOKIE.test(folded.replace(/[^\p{L}\p{N}]/gu, ''));
}

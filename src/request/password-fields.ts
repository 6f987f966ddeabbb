/**
 * Field names that read as a password, in English and the languages apps often name them
 * in, matched after characters that parsers drop are removed: `pass`, `pwd`, `psw` (the
 * W3Schools form), `pw`, `pin`, `secret`, and the words of other languages.
 */
const PASSWORD_NAME =
  /pass|pwd|^psw|^pw$|^pin$|secret|senha|kennwort|contrase|parol|пароль|wachtwoord|has[lł]o|heslo|salasana|adgangskode|[sş]ifre|lozinka|jelsz[oó]|l[öo]senord|geslo|slapta|sandi|密码|密碼|パスワード|비밀번호/i;

/** Tell whether a field name reads as a password, or is one of the routes' own `password_field` names. */
export function readsAsPassword(name: string, configured: ReadonlySet<string>): boolean {
  if (configured.has(name.toLowerCase())) return true;
  return PASSWORD_NAME.test(name.replace(/[^\p{L}\p{N}]/gu, ''));
}

/**
 * Tell whether a query string (the request target's part after `?`) has a field whose name
 * reads as a password, also inside brackets or among other characters that parsers drop.
 */
export function queryCarriesPassword(url: string | undefined, configured: ReadonlySet<string>): boolean {
  const start = (url ?? '').indexOf('?');
  if (start === -1) return false;

  for (const [name] of new URLSearchParams(url!.slice(start + 1).replaceAll(';', '&'))) {
    if (readsAsPassword(name, configured)) return true;
  }
  return false;
}

/** Cookie names taken as a password field besides the routes' own: apps name their own cookies freely (`passport`). */
const PASSWORD_COOKIE = /^(?:password|passwd|pass|pwd|psw|pswd|pw)$/i;

/**
 * Tell whether a Cookie header has a cookie named as a password field. PHP's $_REQUEST
 * and ASP.NET's Request[] read cookies as request parameters, so a login path reached by
 * GET with the username in its query and the password in a cookie is a login.
 */
export function cookieCarriesPassword(cookieHeader: string | undefined, configured: ReadonlySet<string>): boolean {
  if (!cookieHeader) return false;
  for (const pair of cookieHeader.split(';')) {
    const separator = pair.indexOf('=');
    if (separator === -1) continue;
    let name = pair.slice(0, separator).trim();
    try {
      name = decodeURIComponent(name);
    } catch {
      // An undecodable name is read as written.
    }
    if (configured.has(name.toLowerCase()) || PASSWORD_COOKIE.test(name.replace(/[^\p{L}\p{N}]/gu, ''))) return true;
  }
  return false;
}

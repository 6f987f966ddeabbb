/**
 * The step-up cookie: a second way for a login to carry its assertion, for an HTML form,
 * which cannot send the `Riskgate-Step-Up` header. The MFA page sets the cookie, the user
 * posts the login form again, and riskgate reads the assertion from it, removes it from the
 * request to the app, and clears it in the response, so it is used once.
 */

/**
 * Most cookies of one name that are checked, since each check verifies a signature. A
 * browser sends every cookie of a name that matches the path, the ones with longer paths
 * first, so a sibling subdomain can plant some before the one riskgate's side set.
 */
export const MAX_COOKIES_READ = 4;

/** Return the non-empty values of the cookie `name` in a Cookie header, in order, at most MAX_COOKIES_READ. */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header || !header.includes(name)) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator === -1 || part.slice(0, separator).trim() !== name) continue;
    const value = part.slice(separator + 1).trim();
    if (value !== '') values.push(value);
    if (values.length === MAX_COOKIES_READ) break;
  }
  return values;
}

/** Return a Cookie header without the cookie `name`, or undefined when no other cookie is left. */
export function withoutCookie(header: string | undefined, name: string): string | undefined {
  if (!header || !header.includes(name)) return header;
  const others = header.split(';').filter((part) => {
    const separator = part.indexOf('=');
    return part.trim() !== '' && (separator === -1 || part.slice(0, separator).trim() !== name);
  });
  return others.length === 0 ? undefined : others.map((part) => part.trim()).join('; ');
}

/** Build the Set-Cookie value that removes the step-up cookie from the browser. */
export function clearStepUpCookie(name: string, secure: boolean): string {
  return `${name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/**
 * The step-up cookie: a second way for a login to carry its assertion, for an HTML form,
 * which cannot send the `Riskgate-Step-Up` header. The MFA page sets the cookie, the user
 * posts the login form again, and riskgate reads the assertion from it, removes it from the
 * request to the app, and clears it in the response, so it is used once.
 */

/** Return the value of the cookie `name` in a Cookie header, or undefined when it is absent or empty. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || !header.includes(name)) return undefined;
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator !== -1 && part.slice(0, separator).trim() === name) {
      const value = part.slice(separator + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
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

/**
 * Replace the user info and the query values of a URL quoted in a message with `***`. An
 * app, Redis or webhook URL may carry a password or token there, because the Redis client
 * also reads `?password=`, and messages go to terminals and CI logs. A
 * mistyped or missing scheme (`redis//:secret@host`, `http:secret@host`, `:secret@host`,
 * `//user:secret@host`) is covered too: any text between the scheme, if any, and the last
 * `@` is hidden.
 */
export function hideUrlUserInfo(value: string): string {
  // Up to the last `@`: a password may contain `@`, `/` or `:` when it is not escaped.
  // A scheme is kept only when a ':' or '/' follows it, so a bare `password@host` loses it all.
  const withoutUserInfo = value.replace(/^((?:[a-z][a-z0-9+.-]*(?::|(?=\/)))?\/*)[\s\S]*@/i, '$1***@');
  return hideQueryValues(withoutUserInfo);
}

/** Hide every value of a URL's query and keep the parameter names, so a message still shows which were set. */
export function hideQueryValues(value: string): string {
  const start = value.indexOf('?');
  if (start === -1) return value;
  const fragment = value.indexOf('#', start);
  const query = value.slice(start + 1, fragment === -1 ? undefined : fragment);
  const names = query.split('&').filter((pair) => pair !== '').map((pair) => `${pair.split('=')[0].slice(0, 40)}=***`);
  return `${value.slice(0, start)}?${names.join('&')}`;
}

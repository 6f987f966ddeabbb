/**
 * Replace the user info of a URL quoted in a message with `***`. An app, Redis or webhook
 * URL may carry a password, or a token as its user name, and messages go to terminals and
 * CI logs. A mistyped scheme (`redis//:secret@host`, `http:secret@host`) is covered too:
 * any text between the scheme and an `@` is hidden.
 */
export function hideUrlUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:?\/*)[^@]*@/i, '$1***@');
}

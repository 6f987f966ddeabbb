/**
 * Replace the user info of a URL quoted in a message with `***`. An app, Redis or webhook
 * URL may carry a password, or a token as its user name, and messages go to terminals and
 * CI logs. A mistyped scheme (`redis//:secret@host`, `http:secret@host`) is covered too:
 * any text between the scheme and the last `@` is hidden.
 */
export function hideUrlUserInfo(value: string): string {
  // Up to the last `@`: a password may contain `@`, `/` or `:` when it is not escaped.
  return value.replace(/^([a-z][a-z0-9+.-]*:?\/*).*@/i, '$1***@');
}

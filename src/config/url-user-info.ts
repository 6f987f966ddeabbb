/**
 * Replace the user info of a URL quoted in a message with `***`: an app or webhook URL may
 * carry a password, or a token as its user name, and messages go to terminals and CI logs.
 */
export function hideUrlUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

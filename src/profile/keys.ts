/**
 * Store keys of one account, named by its pseudonym (never the username). Both share the
 * pseudonym as their Redis Cluster hash tag, so they live in one slot.
 */
export function profileKey(prefix: string, pseudonym: string): string {
  return `${prefix}:p:{${pseudonym}}`;
}

/**
 * The account's counter index: a set naming every counter key that combines the account
 * with another part (an address, a device), which could not be found from the username
 * alone. Members are `<counter key>|<window ms>`, so erasure can name the bucket keys.
 */
export function counterIndexKey(prefix: string, pseudonym: string): string {
  return `${prefix}:i:{${pseudonym}}`;
}

/** Format an index member. */
export function indexMember(counterKey: string, windowMs: number): string {
  return `${counterKey}|${windowMs}`;
}

/** Parse an index member; undefined when it is not of the form `<key>|<window ms>`. */
export function parseIndexMember(member: string): { key: string; windowMs: number } | undefined {
  const separator = member.lastIndexOf('|');
  const windowMs = Number(member.slice(separator + 1));
  if (separator <= 0 || !Number.isInteger(windowMs) || windowMs <= 0) return undefined;
  return { key: member.slice(0, separator), windowMs };
}

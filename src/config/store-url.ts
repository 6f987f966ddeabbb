/** The parts of a redis:// or rediss:// store URL that the Redis client reads. */
export interface StoreUrlParts {
  /** The percent-decoded user name, or undefined when the URL has none. */
  username?: string;
  /** The percent-decoded password, or undefined when the URL has none. */
  password?: string;
  /** The database number from the path, 0 when the path is empty. */
  database: number;
}

/**
 * Read a redis:// or rediss:// URL the way the store connects with it, or return the reason
 * it cannot be read. The reason never quotes the user info or the path, as either may
 * contain the password.
 */
export function readStoreUrl(value: string): { parts: StoreUrlParts } | { problem: string } {
  if (!URL.canParse(value)) {
    return { problem: 'is not a valid URL: percent-encode "/", "@" and ":" in its password (%2F, %40, %3A)' };
  }
  const url = new URL(value);
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = url.username ? decodeURIComponent(url.username) : undefined;
    password = url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    return { problem: 'has an invalid percent-encoding in its user name or password: write "%" as %25, and each escape as % and two hex digits' };
  }
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    return { problem: 'has a path that is not a database number: end the URL with the database, such as /0, and percent-encode "/" in its password (%2F)' };
  }
  return { parts: { username, password, database: Number(path) } };
}

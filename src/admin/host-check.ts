import { isIP } from 'node:net';

/**
 * Decide whether the admin listener serves a request's Host. A web page can point a name it
 * owns at 127.0.0.1 once the browser has loaded it (DNS rebinding), then read /metrics and
 * /readyz as if it were the operator. A browser always sends that name in Host. So the
 * listener serves only Host values that such a page cannot borrow. Those are an address
 * literal, `localhost` and the names below it (browsers resolve them to loopback
 * themselves), and the names the operator lists in `admin.hosts`. A list entry `.example.internal` also admits
 * every name below example.internal. A request without Host (HTTP/1.0) comes from no browser.
 */
export function adminHostAllowed(hostHeader: string | undefined, allowedNames: readonly string[]): boolean {
  if (hostHeader === undefined) return true;
  const name = hostName(hostHeader);
  if (name === undefined) return false;
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowedNames.some((entry) => entry.startsWith('.') ? name.endsWith(entry) : name === entry);
}

/** Return the host part of a Host value, lower case and without a trailing dot; undefined when it is not host[:port]. */
export function hostName(hostHeader: string): string | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::\d{1,5})?$/.exec(hostHeader.trim());
  if (!match) return undefined;
  if (match[1] !== undefined) return isIP(match[1]) === 6 ? match[1].toLowerCase() : undefined;
  const name = (match[2] ?? '').toLowerCase().replace(/\.$/, '');
  return name === '' ? undefined : name;
}

import { normalizeUsername, type UsernameNormalization } from './username.js';

/**
 * Normalise a request's host for an account name: lower case, without a port or a trailing
 * dot, so that `A.Example.com:443` and `a.example.com` name one tenant.
 */
export function normalizeHost(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[')) name = name.slice(0, name.indexOf(']') + 1);
  else if (name.includes(':')) name = name.slice(0, name.indexOf(':'));
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** A host name of DNS labels, as a tenant's host is. Anything else (`a,b`, `[::1]`) names no tenant. */
const HOST_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/**
 * Tell whether a normalised host is one of `hosts`: equal to an entry, or one label before
 * the rest of a `*.` entry. One label only, because apps that read the tenant from the
 * first label would otherwise find one tenant where riskgate counts many hosts.
 */
export function hostServed(host: string, hosts: readonly string[]): boolean {
  // Apps split a host with a comma as a list, each a different way (Express takes the first
  // entry, Rails the last), so only a plain host name can name one tenant.
  if (!HOST_NAME.test(host)) return false;
  return hosts.some((entry) => {
    if (!entry.startsWith('*.')) return host === entry;
    const suffix = entry.slice(1);
    return host.endsWith(suffix) && host.length > suffix.length && !host.slice(0, -suffix.length).includes('.');
  });
}

/**
 * Return the account a login's normalised username names. With `username.scope: host`, one
 * name is another account on each host, as in an app that serves many tenants: the account
 * is then `host/name`. A host has no `/`, so the first one separates the two.
 */
export function accountOf(name: string, host: string | undefined, options: UsernameNormalization): string {
  if (options.scope !== 'host') return name;
  return `${normalizeHost(host ?? '')}/${name}`;
}

/**
 * Normalise an account name given outside a login (an assertion's subject, the admin API,
 * export and erasure): a username, or `host/username` with `username.scope: host`. Returns
 * undefined when a host-scoped name has no host.
 */
export function normalizeAccountName(
  text: string,
  options: UsernameNormalization,
  reading: 'account' | 'exact' | 'text' = 'account',
): string | undefined {
  if (options.scope !== 'host') return normalizeUsername(text, options, reading);
  const separator = text.indexOf('/');
  if (separator <= 0) return undefined;
  const name = normalizeUsername(text.slice(separator + 1), options, reading);
  return name === '' ? '' : `${normalizeHost(text.slice(0, separator))}/${name}`;
}

/** Hint on how to name an account, for a name that normalizeAccountName found no host in. */
export const HOST_SCOPE_HINT = 'username.scope is host, so name the account as host/username, such as shop.example.com/alice';

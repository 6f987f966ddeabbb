import ipaddr from 'ipaddr.js';

import { CounterPlan, type KeyParts } from '../decision/counter-plan.js';
import type { GatewayContext } from '../proxy/context.js';
import { TrustedProxies, parseAddress, resolveClientAddress, type ClientAddress } from '../request/client-ip.js';
import { embeddedIPv4Cidr } from '../request/embedded-ipv4.js';
import { HOST_SCOPE_HINT, normalizeAccountName } from '../request/account-name.js';
import type { CounterDefinition, CounterKeyPart } from '../rules/types.js';
import { AdminProblem } from './http.js';

/** Lookup target of the counter API: an address, an account or both, and optionally a route. */
export interface CounterTarget {
  ip?: string;
  username?: string;
  route?: string;
}

export interface CounterValue {
  name: string;
  key: readonly CounterKeyPart[];
  /** The counter's kind; absent for a counter that a reload removed. */
  count?: CounterDefinition['count'];
  window_ms: number;
  value: number;
  /** The route id, for a counter keyed by route. */
  route?: string;
}

export interface ResolvedTarget {
  parts: KeyParts;
  /** The target as it may be shown and logged: the address, and the account's pseudonym. */
  display: { ip?: string; ip_key?: string; ip_prefix?: string; username?: string; route?: string };
}

const NO_PROXIES = new TrustedProxies([]);

/** Turn a lookup target into counter key parts, exactly as a login with those values would. */
export function resolveTarget(context: GatewayContext, target: CounterTarget): ResolvedTarget {
  const parts: KeyParts = {};
  const display: ResolvedTarget['display'] = {};

  if (target.ip !== undefined) {
    // The site's NAT64 prefixes apply, so a translated address names its IPv4 client.
    const client = parseClientAddress(target.ip, context.trustedProxies);
    parts.ip = client.key;
    parts.ip_prefix = client.prefix;
    Object.assign(display, { ip: client.address, ip_key: client.key, ip_prefix: client.prefix });
  }

  if (target.username !== undefined) {
    const username = normalizeAccountName(target.username, context.config.username);
    if (username === undefined) throw new AdminProblem(400, 'invalid request body', HOST_SCOPE_HINT);
    if (!username) throw new AdminProblem(400, 'invalid request body', 'username is empty after normalisation');
    parts.username = username;
    display.username = context.keys.pseudonymize(username);
  }

  if (target.route !== undefined) {
    if (!context.config.loginRoutes.some((route) => route.id === target.route)) {
      const known = context.config.loginRoutes.map((route) => route.id).join(', ');
      throw new AdminProblem(400, 'invalid request body', `route "${target.route.slice(0, 64)}" is not a login route id; known: ${known}`);
    }
    parts.route = target.route;
    display.route = target.route;
  }

  if (parts.ip === undefined && parts.username === undefined) {
    throw new AdminProblem(400, 'invalid request body', 'give ip, username or both');
  }
  return { parts, display };
}

/** Parse an address given to the admin API into the client address of a login from it, or raise a 400 problem. */
export function parseClientAddress(text: string, proxies: TrustedProxies = NO_PROXIES): ClientAddress {
  const address = parseAddress(text);
  if (!address) {
    throw new AdminProblem(400, 'invalid request body', `ip "${text.slice(0, 64)}" is not an IPv4 or IPv6 address`);
  }
  return resolveClientAddress(address.toString(), undefined, proxies);
}

/** Report whether every part of a counter's key is known from these parts. */
export function keyedWithin(counter: CounterDefinition, parts: KeyParts): boolean {
  return counter.key.every((part) => parts[part] !== undefined && parts[part] !== '');
}

/**
 * Read the counters a login with these key parts would read, in one store round trip.
 * Counters keyed by anything else (device, fingerprint, or a part not given) are named in
 * `notRead` with the parts they need.
 */
export async function readCounters(
  context: GatewayContext,
  parts: KeyParts,
  now: number,
): Promise<{ counters: CounterValue[]; notRead: { name: string; needs: CounterKeyPart[] }[] }> {
  const definitions = context.rules.current.counters;
  const plan = new CounterPlan(definitions, parts, context.keys, context.config.store.keyPrefix);
  const reading = await context.store.read(plan.readRequest(now), 'closed');
  const byName = plan.countsByName(reading.result.counts);

  const counters: CounterValue[] = [];
  const notRead: { name: string; needs: CounterKeyPart[] }[] = [];
  for (const counter of definitions) {
    if (keyedWithin(counter, parts)) {
      counters.push({ name: counter.name, key: counter.key, count: counter.count, window_ms: counter.windowMs, value: byName[counter.name] });
    } else {
      notRead.push({ name: counter.name, needs: counter.key.filter((part) => parts[part] === undefined) });
    }
  }
  return { counters, notRead };
}

/** Canonical `network/bits` text of a CIDR, or a 400 problem naming the value. */
export function canonicalCidr(text: string): string {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    throw new AdminProblem(400, 'invalid request body',
      `cidr "${text.slice(0, 64)}" is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32`);
  }
  let [address, bits] = parsed;
  if (address.kind() === 'ipv6') {
    // Clients with IPv4-mapped, NAT64, 6to4 or Teredo addresses are judged by their IPv4
    // address, so such a range is read as its IPv4 network.
    const embedded = embeddedIPv4Cidr(address as ipaddr.IPv6, bits);
    // A prefix shorter than /32 is refused as too wide by the manual entry check.
    if (embedded === 'ambiguous' && bits >= 32) {
      throw new AdminProblem(400, 'invalid request body',
        `cidr "${text.slice(0, 64)}" covers IPv6 addresses that carry IPv4 clients (IPv4-mapped, NAT64, 6to4 or Teredo), ` +
          'which riskgate judges by their IPv4 address; give the IPv4 network instead');
    }
    if (embedded && embedded !== 'ambiguous') [address, bits] = [embedded.address, embedded.bits];
  }
  const network = address.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`);
  return `${network.toString()}/${bits}`;
}

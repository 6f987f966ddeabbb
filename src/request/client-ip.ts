import ipaddr from 'ipaddr.js';

import { LOCAL_USE_NAT64, embeddedIPv4, embeddedIPv4Cidr, ipv4AfterPrefix } from './embedded-ipv4.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** The client address as riskgate reads it, and the forms that counters are keyed by. */
export interface ClientAddress {
  /** Canonical text: dotted IPv4 (IPv4-mapped IPv6 unwrapped) or RFC 5952 IPv6. */
  address: string;
  version: 4 | 6;
  /** Counter key for `ip`: the address for IPv4, its /64 network for IPv6 (the address in the local-use NAT64 block). */
  key: string;
  /** Counter key for `ip_prefix`: the /24 for IPv4, the /48 for IPv6 (the address in the local-use NAT64 block). */
  prefix: string;
  /** Private, loopback, link-local, carrier-grade NAT or otherwise non-public range. */
  private: boolean;
}

/**
 * A parsed list of trusted proxy ranges, with the site's own NAT64 prefixes, which
 * resolveClientAddress reads a client address with.
 */
export class TrustedProxies {
  private readonly ranges: [Address, number][];
  private readonly nat64: [ipaddr.IPv6, number][];

  /** `nat64Prefixes` are CIDRs of the lengths RFC 6052 allows (see NAT64_PREFIX_LENGTHS). */
  constructor(entries: readonly string[], nat64Prefixes: readonly string[] = []) {
    this.ranges = entries.map(parseTrustedRange);
    this.nat64 = nat64Prefixes.map((entry) => ipaddr.IPv6.parseCIDR(entry));
  }

  /**
   * Return the IPv4 client inside an address of one of the site's NAT64 prefixes, through
   * which IPv4 clients reach an IPv6-only site, or the address itself.
   */
  translated(address: Address): Address {
    if (address.kind() !== 'ipv6') return address;
    const prefix = this.nat64.find(([network, bits]) => (address as ipaddr.IPv6).match(network, bits));
    return prefix ? ipv4AfterPrefix(address as ipaddr.IPv6, prefix[1]) : address;
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  contains(address: Address): boolean {
    return this.ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }
}

/**
 * Parse a `trusted_proxies` entry, an address or a CIDR, into its network address and prefix
 * length. An IPv6 entry that carries IPv4 addresses (IPv4-mapped, NAT64, 6to4) becomes the
 * IPv4 range it stands for, as peers with such addresses are read as IPv4.
 */
export function parseTrustedRange(entry: string): [Address, number] {
  if (entry.includes('/')) {
    const [address, bits] = ipaddr.parseCIDR(entry);
    if (address.kind() === 'ipv4') return [address, bits];
    const embedded = embeddedIPv4Cidr(address as ipaddr.IPv6, bits);
    return embedded && embedded !== 'ambiguous' ? [embedded.address, embedded.bits] : [address, bits];
  }
  const address = unwrap(ipaddr.parse(entry));
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

/**
 * Resolve the client address: the socket peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. An entry that is not
 * a valid address stops the walk, and the hop that sent it is taken as the client, so
 * values such as `unknown` never become the client address.
 */
export function resolveClientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies,
): ClientAddress {
  let client = parseAddress(peer ?? '') ?? ipaddr.parse('0.0.0.0');

  if (forwardedFor && !trusted.empty) {
    const entries = forwardedFor.split(',');
    for (let index = entries.length - 1; index >= 0 && trusted.contains(client); index -= 1) {
      const entry = parseAddress(entries[index]);
      if (!entry) break;
      client = entry;
    }
  }

  return describe(trusted.translated(client));
}

/** Parse one address as it appears in a header or socket: trims, drops a port, unwraps IPv4-mapped IPv6. */
export function parseAddress(text: string): Address | undefined {
  let value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) {
    value = bracketed[1];
  } else if (/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(value)) {
    value = value.slice(0, value.lastIndexOf(':'));
  }

  // ipaddr.isValid accepts shorthand IPv4 such as "127.1" or octal; only four-part
  // decimal IPv4 and standard IPv6 text are addresses here.
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) {
    return ipaddr.IPv4.parse(value);
  }
  if (value.includes(':') && ipaddr.IPv6.isValid(value) && !value.includes('%')) {
    return unwrap(ipaddr.IPv6.parse(value));
  }
  return undefined;
}

/**
 * Return the IPv4 client an IPv6 address carries (IPv4-mapped, NAT64, 6to4, Teredo), or the
 * address itself. Such clients are whole IPv4 clients, and their /64 is shared by many.
 */
function unwrap(address: Address): Address {
  if (address.kind() !== 'ipv6') return address;
  return embeddedIPv4(address as ipaddr.IPv6) ?? address;
}

/**
 * ipaddr.js ranges whose addresses reach the internet: ordinary unicast, and the IPv6
 * transition forms that carry an internet client's IPv4 address (6to4, Teredo, NAT64).
 */
const INTERNET_RANGES = new Set(['unicast', '6to4', 'teredo', 'rfc6052', 'rfc6145']);

/** Tell whether an ipaddr.js range name contains addresses of clients on the internet. */
export function isInternetRange(range: string): boolean {
  return INTERNET_RANGES.has(range);
}

function describe(address: Address): ClientAddress {
  const text = address.toString();
  const isPrivate = !isInternetRange(address.range());

  if (address.kind() === 'ipv4') {
    const octets = (address as ipaddr.IPv4).octets;
    return {
      address: text,
      version: 4,
      key: text,
      prefix: `${octets[0]}.${octets[1]}.${octets[2]}.0/24`,
      private: isPrivate,
    };
  }

  // All clients of a local-use NAT64 translator share its prefix, and each has one address.
  const translated = (address as ipaddr.IPv6).match(LOCAL_USE_NAT64.network, LOCAL_USE_NAT64.bits);
  return {
    address: text,
    version: 6,
    key: networkOf(address as ipaddr.IPv6, translated ? 128 : 64),
    prefix: networkOf(address as ipaddr.IPv6, translated ? 128 : 48),
    private: isPrivate,
  };
}

function networkOf(address: ipaddr.IPv6, bits: number): string {
  const parts = address.parts.slice();
  for (let index = 0; index < 8; index += 1) {
    const keep = Math.max(0, Math.min(16, bits - index * 16));
    parts[index] = keep === 0 ? 0 : parts[index] & (0xffff << (16 - keep)) & 0xffff;
  }
  return `${new ipaddr.IPv6(parts).toString()}/${bits}`;
}

import ipaddr from 'ipaddr.js';

import { isInternetRange, parseTrustedRange } from './client-ip.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A `trusted_proxies` entry that trusts more hosts than a proxy network should hold. */
export interface BroadProxyRange {
  range: string;
  /** Clause that gives the reason the range is too broad, such as `is shorter than /8`. */
  reason: string;
}

/** Prefix length below which a public IPv4 range is named too short, not only public. */
const MIN_IPV4_PREFIX = 8;
/** Prefix length below which a public IPv6 range is named too short, not only public. */
const MIN_IPV6_PREFIX = 32;

/**
 * Find the trusted proxy ranges that let clients choose their own address. A host in a
 * trusted range may set X-Forwarded-For. So when clients can be in the range, the address
 * that the counters are keyed by is whatever they write there. Flags ranges of more than
 * one address that contain public unicast addresses, naming those shorter than /8 (IPv4)
 * or /32 (IPv6). Non-public blocks such as fd00::/8 and a single public address, such as a
 * load balancer's, are not flagged.
 */
export function findBroadProxyRanges(entries: readonly string[]): BroadProxyRange[] {
  const found: BroadProxyRange[] = [];
  for (const entry of entries) {
    const [network, bits] = parseTrustedRange(entry);
    const minimum = network.kind() === 'ipv4' ? MIN_IPV4_PREFIX : MIN_IPV6_PREFIX;
    const single = bits === (network.kind() === 'ipv4' ? 32 : 128);
    // A private, unique local or link-local block of any size holds no client from the internet.
    if (!single && withinNonPublicRange(network, bits)) continue;
    if (bits < minimum) {
      found.push({ range: entry, reason: `is shorter than /${minimum}` });
    } else if (!single) {
      found.push({ range: entry, reason: 'contains public unicast addresses' });
    }
  }
  return found;
}

/** Format the warning for one broad range, as `riskgate check` prints it and start logs it. */
export function describeBroadProxyRange(broad: BroadProxyRange): string {
  return `trusted_proxies entry ${broad.range} ${broad.reason}. Any client in it can choose its own address ` +
    'through X-Forwarded-For and so escape the per-address counters. List only the addresses of your proxies.';
}

/**
 * True when the first and the last address of the range are in the same non-public range
 * of ipaddr.js (private, loopback, link-local, carrier-grade NAT, unique local,
 * documentation and others), so the range contains no public unicast address.
 */
// NOTE: a range whose two ends fall in two separate blocks of the same kind, with public
// space between them, would pass. No aligned CIDR of ipaddr.js 2.5's blocks does that.
function withinNonPublicRange(network: Address, bits: number): boolean {
  const cidr = `${network.toString()}/${bits}`;
  const last = network.kind() === 'ipv4' ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
  const kind = network.range();
  return !isInternetRange(kind) && last.range() === kind;
}

import ipaddr from 'ipaddr.js';

/**
 * IPv6 ranges whose addresses carry an IPv4 client's address: the bit offset where the
 * IPv4 address starts, and whether it is stored inverted (Teredo stores the client's
 * address with every bit flipped).
 */
const TRANSLATED: readonly { range: string; network: ipaddr.IPv6; bits: number; offset: number; inverted: boolean }[] = [
  // IPv4-mapped (::ffff:a.b.c.d) and SIIT's IPv4-translated (::ffff:0:a.b.c.d).
  { range: 'ipv4Mapped', network: ipaddr.IPv6.parse('::ffff:0:0'), bits: 96, offset: 96, inverted: false },
  { range: 'rfc6145', network: ipaddr.IPv6.parse('::ffff:0:0:0'), bits: 96, offset: 96, inverted: false },
  // The deprecated IPv4-compatible form (::a.b.c.d), which ipaddr.js parses as IPv4-mapped.
  // No address reports this range, so it applies to CIDRs alone.
  { range: 'ipv4Compatible', network: ipaddr.IPv6.parse('::'), bits: 96, offset: 96, inverted: false },
  // The well-known NAT64 prefix, through which IPv4 clients reach an IPv6-only site (SIIT-DC).
  { range: 'rfc6052', network: ipaddr.IPv6.parse('64:ff9b::'), bits: 96, offset: 96, inverted: false },
  // 6to4 puts the site's IPv4 address right after 2002::/16.
  { range: '6to4', network: ipaddr.IPv6.parse('2002::'), bits: 16, offset: 16, inverted: false },
  // Teredo puts its server's address in bits 32 to 63, so all its clients share one /64.
  { range: 'teredo', network: ipaddr.IPv6.parse('2001::'), bits: 32, offset: 96, inverted: true },
];

/**
 * RFC 8215's local-use NAT64 block. Each network picks a prefix length from /48 to /96 within
 * it, and RFC 6052 puts the IPv4 address at a different place for each length, so riskgate
 * cannot read the IPv4 client from the address alone. A translator gives each IPv4 client
 * one address, whatever the length, so each address counts as one client.
 */
export const LOCAL_USE_NAT64 = { network: ipaddr.IPv6.parse('64:ff9b:1::'), bits: 48 };

/** Prefix lengths RFC 6052 allows for a network-specific NAT64 prefix. */
export const NAT64_PREFIX_LENGTHS: readonly number[] = [32, 40, 48, 56, 64, 96];

/**
 * Read the IPv4 address inside an address of a network-specific NAT64 prefix of `bits`
 * bits. RFC 6052 places it right after the prefix, skipping bits 64 to 71, which stay zero.
 */
export function ipv4AfterPrefix(address: ipaddr.IPv6, bits: number): ipaddr.IPv4 {
  const bytes = address.toByteArray();
  const octets: number[] = [];
  for (let index = bits / 8; octets.length < 4; index += 1) {
    if (index !== 8) octets.push(bytes[index]!);
  }
  return new ipaddr.IPv4(octets);
}

/** Return the IPv4 client address that an IPv6 address carries, or undefined when it carries none. */
export function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const range = address.range();
  // ipaddr.js names the local-use NAT64 block (see LOCAL_USE_NAT64) rfc6052 too, so the
  // network decides.
  const translated = TRANSLATED.find((entry) => entry.range === range && address.match(entry.network, entry.bits));
  return translated ? ipv4At(address, translated.offset, translated.inverted) : undefined;
}

/**
 * Read an IPv6 CIDR that covers translated addresses as the IPv4 CIDR it stands for. Returns
 * the IPv4 network and bits, or `undefined` when the CIDR covers no translated address.
 * Returns `'ambiguous'` when it covers translated addresses but not as one IPv4 network: a
 * prefix shorter than the IPv4 part's start, one that spans a whole translation range, or
 * any Teredo range.
 */
export function embeddedIPv4Cidr(address: ipaddr.IPv6, bits: number): { address: ipaddr.IPv4; bits: number } | 'ambiguous' | undefined {
  const network = ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`);
  // The IPv4-compatible range starts with the loopback address ::1 (and ::), which clients
  // on the same host connect from, so ::1/128 and ::/127 stay IPv6.
  if (bits >= 127 && LOOPBACK.match(network, bits)) return undefined;
  for (const entry of TRANSLATED) {
    const covers = bits <= entry.bits && entry.network.match(network, bits);
    const inside = bits >= entry.bits && network.match(entry.network, entry.bits);
    if (covers && !inside) return 'ambiguous';
    if (!inside) continue;
    if (entry.inverted || bits < entry.offset) return 'ambiguous';
    return { address: ipv4At(network, entry.offset, false), bits: Math.min(bits - entry.offset, 32) };
  }
  return undefined;
}

const LOOPBACK = ipaddr.IPv6.parse('::1');

function ipv4At(address: ipaddr.IPv6, offset: number, inverted: boolean): ipaddr.IPv4 {
  const bytes = address.toByteArray();
  const start = offset / 8;
  const octets = bytes.slice(start, start + 4).map((byte) => (inverted ? ~byte & 0xff : byte));
  return new ipaddr.IPv4(octets);
}

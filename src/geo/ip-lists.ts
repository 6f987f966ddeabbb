import { createHash } from 'node:crypto';

import ipaddr from 'ipaddr.js';

import type { SourceProblem } from '../errors.js';
import { embeddedIPv4, embeddedIPv4Cidr } from '../request/embedded-ipv4.js';
import { readRegularTextFile } from '../config/regular-file.js';

/** Name pattern of an IP list, as rules write it in `ip.in_list("name")`. */
export const IP_LIST_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

type Range = [start: bigint, end: bigint];

/**
 * A set of address ranges read from a file of one address or CIDR per line, with `#`
 * comments. Ranges are merged and sorted at load, so a lookup is a binary search however
 * long the list is (data-centre lists run to tens of thousands of ranges).
 */
export class IpList {
  private constructor(
    readonly name: string,
    readonly file: string,
    /** SHA-256 of the file's text, hex, so the rule-set version changes when the list does. */
    readonly digest: string,
    private readonly v4: Range[],
    private readonly v6: Range[],
  ) {}

  /** Number of merged ranges, for the load log line. */
  get size(): number {
    return this.v4.length + this.v6.length;
  }

  /** Return whether an address in canonical text (as `ip.address` carries it) is listed. */
  contains(address: string): boolean {
    const number = addressNumber(address);
    if (!number) return false;
    return search(number.version === 4 ? this.v4 : this.v6, number.value);
  }

  /** Parse a list file; problems name the file and line of each invalid entry. */
  static read(name: string, file: string): { list?: IpList; problems: SourceProblem[] } {
    let text: string;
    try {
      text = readRegularTextFile(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
      return { problems: [{ file, line: 1, column: 1, message: `IP list "${name}": ${reason}; check its path in ip_lists or the rule file's lists` }] };
    }
    return IpList.parse(name, file, text);
  }

  /** Parse list text; exported for tests that build a list without a file. */
  static parse(name: string, file: string, text: string): { list?: IpList; problems: SourceProblem[] } {
    const problems: SourceProblem[] = [];
    const v4: Range[] = [];
    const v6: Range[] = [];

    text.split(/\r?\n/).forEach((raw, index) => {
      const entry = raw.replace(/#.*$/, '').trim();
      if (entry === '') return;
      const range = parseEntry(entry);
      if (!range) {
        problems.push({ file, line: index + 1, column: raw.indexOf(entry) + 1,
          message: `IP list "${name}": "${entry}" is not an IP address or CIDR such as 192.0.2.0/24 or 2001:db8::/32` });
        return;
      }
      // A catch-all entry, as a broken download or a stray default route leaves, would give
      // every login the list's score. Data-centre and anonymiser lists hold far narrower ranges.
      const widest = range.version === 4 ? WIDEST_IPV4_PREFIX : WIDEST_IPV6_PREFIX;
      if (range.bits < widest) {
        problems.push({ file, line: index + 1, column: raw.indexOf(entry) + 1,
          message: `IP list "${name}": "${entry}" covers more than a /${widest}, so nearly every address would be listed; ` +
            `split it into narrower ranges if it is meant` });
        return;
      }
      (range.version === 4 ? v4 : v6).push([range.start, range.end]);
    });

    if (problems.length > 0) return { problems };
    const digest = createHash('sha256').update(text).digest('hex');
    return { list: new IpList(name, file, digest, merge(v4), merge(v6)), problems };
  }
}

/** Load every named list; returns the lists read and the problems of those that failed. */
export function loadIpLists(files: Readonly<Record<string, string>>): { lists: Map<string, IpList>; problems: SourceProblem[] } {
  const lists = new Map<string, IpList>();
  const problems: SourceProblem[] = [];
  for (const [name, file] of Object.entries(files)) {
    const result = IpList.read(name, file);
    problems.push(...result.problems);
    if (result.list) lists.set(name, result.list);
  }
  return { lists, problems };
}

/** Widest IPv4 range an IP list may have: a /8, the largest block the registries gave one organisation. */
const WIDEST_IPV4_PREFIX = 8;

/** Widest IPv6 range an IP list may have: a /16, far wider than the blocks single networks are given. */
const WIDEST_IPV6_PREFIX = 16;

function parseEntry(entry: string): { version: 4 | 6; start: bigint; end: bigint; bits: number } | undefined {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  try {
    if (entry.includes('/')) {
      [address, bits] = ipaddr.parseCIDR(entry);
    } else {
      if (!ipaddr.IPv4.isValidFourPartDecimal(entry) && !(entry.includes(':') && ipaddr.IPv6.isValid(entry))) {
        return undefined;
      }
      address = ipaddr.parse(entry);
      bits = address.kind() === 'ipv4' ? 32 : 128;
    }
  } catch {
    return undefined;
  }

  // The client address carries a translated IPv6 address (IPv4-mapped, NAT64, 6to4) as the
  // IPv4 address inside it, so an entry inside such a range is kept as that IPv4 range. An
  // entry that covers a whole range stays IPv6, as it would otherwise list all of IPv4.
  if (address.kind() === 'ipv6') {
    const inner = embeddedIPv4Cidr(address as ipaddr.IPv6, bits);
    if (inner && inner !== 'ambiguous' && inner.bits > 0) ({ address, bits } = inner);
  }
  const width = address.kind() === 'ipv4' ? 32 : 128;
  const host = BigInt(width - bits);
  const start = (toBigInt(address) >> host) << host;
  return { version: width === 32 ? 4 : 6, start, end: start + (1n << host) - 1n, bits };
}

// Dotted decimal without leading zeros, the form ip.address always has. ipaddr.js reads a
// leading zero as octal, so any other form is left to it.
const DOTTED_DECIMAL = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

type AddressNumber = { version: 4 | 6; value: bigint } | undefined;

// A login's rules ask every list about the same address in turn, so the last one is kept.
let lastAddress: string | undefined;
let lastNumber: AddressNumber;

/** Convert an address to a number, translated IPv6 unwrapped; undefined when it does not parse. */
function addressNumber(address: string): AddressNumber {
  if (address === lastAddress) return lastNumber;
  let number: AddressNumber;
  const octets = DOTTED_DECIMAL.exec(address);
  if (octets) {
    const value = ((Number(octets[1]) << 24) >>> 0) + (Number(octets[2]) << 16) + (Number(octets[3]) << 8) + Number(octets[4]);
    number = { version: 4, value: BigInt(value) };
  } else {
    try {
      let parsed = ipaddr.parse(address);
      if (parsed.kind() === 'ipv6') parsed = embeddedIPv4(parsed as ipaddr.IPv6) ?? parsed;
      number = { version: parsed.kind() === 'ipv4' ? 4 : 6, value: toBigInt(parsed) };
    } catch {
      number = undefined;
    }
  }
  lastAddress = address;
  lastNumber = number;
  return number;
}

function toBigInt(address: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let value = 0n;
  for (const byte of address.toByteArray()) {
    value = (value << 8n) | BigInt(byte);
  }
  return value;
}

function merge(ranges: Range[]): Range[] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1] + 1n) {
      if (range[1] > last[1]) last[1] = range[1];
    } else {
      merged.push([range[0], range[1]]);
    }
  }
  return merged;
}

function search(ranges: Range[], value: bigint): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [start, end] = ranges[middle];
    if (value < start) high = middle - 1;
    else if (value > end) low = middle + 1;
    else return true;
  }
  return false;
}

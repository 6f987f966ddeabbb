import { createHash } from 'node:crypto';

import { isPseudonym } from '../crypto/keys.js';

/** The values the memory store keeps, and the helpers that count with them. */

/** Most members a distinct counter keeps per bucket; past it the count stays at this value. */
export const MAX_DISTINCT_MEMBERS = 256;

/** The empty bucket, shared by every distinct counter that has one; never written to. */
const NO_MEMBERS: readonly number[] = Object.freeze([]);

/** A count counter's current and previous bucket. It reads 0 from two windows after `bucket` on. */
export class CountEntry {
  /** The store's move count when this entry last moved to the newest end of its order. */
  stamp = 0;

  constructor(
    public bucket: number,
    public current: number,
    public previous: number,
    public windowMs: number,
  ) {}

  get expiresAt(): number {
    return (this.bucket + 2) * this.windowMs;
  }
}

/**
 * A distinct counter's member hashes in its current and previous bucket, each a sorted
 * array: an array of doubles costs 8 bytes a member against about 150 bytes for even an
 * empty Set (Node 20 on x86-64), and sorted buckets give their union size in one merge.
 */
export class DistinctEntry {
  /** The store's move count when this entry last moved to the newest end of its order. */
  stamp = 0;

  constructor(
    public bucket: number,
    public current: readonly number[],
    public previous: readonly number[],
    public windowMs: number,
  ) {}

  static empty(bucket: number, windowMs: number): DistinctEntry {
    return new DistinctEntry(bucket, NO_MEMBERS, NO_MEMBERS, windowMs);
  }

  get expiresAt(): number {
    return (this.bucket + 2) * this.windowMs;
  }
}

export class HashEntry {
  /** The store's move count when this entry last moved to the newest end of its order. */
  stamp = 0;

  constructor(
    public fields: Map<string, string>,
    /** Infinity for a hash written only by increments, which set no expiry. */
    public expiresAt: number,
  ) {}
}

export class SetEntry {
  /** The store's move count when this entry last moved to the newest end of its order. */
  stamp = 0;

  constructor(
    public members: Set<string>,
    public expiresAt: number,
  ) {}
}

/** A single-use claim is stored as its expiry time alone. */
export type Entry = CountEntry | DistinctEntry | HashEntry | SetEntry | number;

/**
 * Return a flat copy of a key. Keys arrive as strings built by concatenation, which V8
 * keeps as a tree of parts that costs more than twice the flat string (Node 20). The JSON
 * round trip copies any string, lone surrogates included, into one flat string.
 */
export function compactKey(key: string): string {
  return JSON.parse(JSON.stringify(key)) as string;
}

export function alignCounts(entry: CountEntry, bucket: number): [number, number] {
  if (entry.bucket === bucket) return [entry.current, entry.previous];
  if (entry.bucket === bucket - 1) return [0, entry.current];
  return [0, 0];
}

/** Return the entry's buckets as seen from `bucket`; an empty one is shared and read-only. */
export function alignMembers(entry: DistinctEntry, bucket: number): [readonly number[], readonly number[]] {
  if (entry.bucket === bucket) return [entry.current, entry.previous];
  if (entry.bucket === bucket - 1) return [NO_MEMBERS, entry.current];
  return [NO_MEMBERS, NO_MEMBERS];
}

/** Move a distinct entry to `bucket`, so its current bucket is the one to add to. */
export function rollMembers(entry: DistinctEntry, bucket: number): void {
  if (entry.bucket === bucket) return;
  entry.previous = entry.bucket === bucket - 1 ? entry.current : NO_MEMBERS;
  entry.current = NO_MEMBERS;
  entry.bucket = bucket;
}

/**
 * Return the sorted bucket with `member` in it: the same array when it is there already,
 * else a copy of exactly one more element, because a growing array reserves about half
 * again its length in spare slots.
 */
export function withMember(members: readonly number[], member: number): readonly number[] {
  let low = 0;
  let high = members.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (members[middle] < member) low = middle + 1;
    else high = middle;
  }
  if (members[low] === member) return members;

  const next = new Array<number>(members.length + 1);
  for (let index = 0; index < low; index += 1) next[index] = members[index];
  next[low] = member;
  for (let index = low; index < members.length; index += 1) next[index + 1] = members[index];
  return next;
}

/** Count the members of two sorted buckets together, each member once. */
export function unionSize(current: readonly number[], previous: readonly number[]): number {
  let size = 0;
  let i = 0;
  let j = 0;
  while (i < current.length && j < previous.length) {
    if (current[i] === previous[j]) {
      i += 1;
      j += 1;
    } else if (current[i] < previous[j]) {
      i += 1;
    } else {
      j += 1;
    }
    size += 1;
  }
  return size + (current.length - i) + (previous.length - j);
}

/**
 * Return 48 bits of the member, so two usernames of one key collide with a chance of
 * about 1 in 2^48. The gateway's members are pseudonyms, whose hex digits are already HMAC
 * output, so their first 48 bits are taken as they are. Other text is hashed with SHA-256.
 */
export function memberHash(member: string): number {
  if (isPseudonym(member)) return Number.parseInt(member.slice(0, 12), 16);
  const digest = createHash('sha256').update(member).digest();
  return digest.readUIntBE(0, 6);
}

import type { CounterKind } from '../rules/types.js';

/**
 * Store key of a counter: `<prefix>:c:{<name>:<digest>:<kind tag>}`. The braces are a Redis
 * Cluster hash tag, so both buckets of one counter share a slot. The kind tag keeps a
 * counter whose `count` kind changes on reload from reading keys of the old kind. On Redis
 * a count is a string and a distinct count a HyperLogLog, so reading one as the other fails
 * with WRONGTYPE or reads a corrupt value. Keys of the old kind expire after two windows.
 * A changed window or key part needs no tag, because the stored type stays the same.
 */
const KIND_TAGS: Record<CounterKind, string> = {
  attempts: 'a', failures: 'f', unsuccessful: 'u', distinct_usernames: 'd', distinct_successful_usernames: 'n',
};

/** Tags of the kinds stored as a HyperLogLog. */
const DISTINCT_TAGS = new Set(['d', 'n']);

const TAGGED_KEY = /:c:\{([a-z][a-z0-9_]*):[^}:]+:([afudn])\}$/;

export function counterKey(prefix: string, name: string, digest: string, kind: CounterKind): string {
  return `${prefix}:c:{${name}:${digest}:${KIND_TAGS[kind]}}`;
}

/**
 * Return the key of a counter key's pending marks (see PendingMark): `<prefix>:w:{...}`,
 * with the counter's hash tag, so that on a Cluster the marks share a slot with the counts.
 * The marks live no longer than a login waits for the app, so erasure and export skip them.
 */
export function pendingKey(counterKey: string): string {
  const tag = counterKey.lastIndexOf(':c:{');
  return `${counterKey.slice(0, tag)}:w:${counterKey.slice(tag + ':c:'.length)}`;
}

/**
 * Return the start that a counter's keys of every kind share with its untagged keys from
 * before kinds were tagged, so that erasure finds them all. The digest has a fixed length,
 * so no other counter's key starts with it.
 */
export function counterKeyFamily(key: string): string {
  const match = TAGGED_KEY.exec(key);
  return match ? key.slice(0, key.length - ':a}'.length) : key.replace(/\}$/, '');
}

/** Return the counter name in a counter key, or undefined for another key. */
export function counterNameOf(key: string): string | undefined {
  return /:c:\{([a-z][a-z0-9_]*):[^}]+\}$/.exec(key)?.[1];
}

/** Return how a counter key is read: as a count or a distinct count; undefined when untagged. */
export function storedKindOf(key: string): 'count' | 'distinct' | undefined {
  const tag = TAGGED_KEY.exec(key)?.[2];
  if (tag === undefined) return undefined;
  return DISTINCT_TAGS.has(tag) ? 'distinct' : 'count';
}

/** Return the keys the same counter has under the other count kinds, with how each is read. */
export function otherKindKeys(key: string): { key: string; kind: 'count' | 'distinct' }[] {
  const tag = TAGGED_KEY.exec(key)?.[2];
  if (tag === undefined) return [];
  const family = counterKeyFamily(key);
  return Object.values(KIND_TAGS)
    .filter((other) => other !== tag)
    .map((other) => ({ key: `${family}:${other}}`, kind: DISTINCT_TAGS.has(other) ? 'distinct' : 'count' }));
}

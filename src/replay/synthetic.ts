import { baselineSignals } from '../signals/catalog.js';
import { prefixOf } from './decision-line.js';
import type { LoginEvent } from './event.js';

export interface SyntheticOptions {
  /** Time of the first event, in ms since the epoch. */
  start?: number;
  /** Time between two events, in ms. */
  intervalMs?: number;
  /** Share of events from one credential-stuffing address, 0 to 1. */
  attackShare?: number;
}

/**
 * Generate `count` login events for benchmarks: ordinary logins from 5,000 addresses with two
 * accounts each, about one in ten a failure, mixed with a stuffing run from one address
 * that tries a new account each time. The sequence is the same on every call.
 */
export function* syntheticLoginEvents(count: number, options: SyntheticOptions = {}): Generator<LoginEvent> {
  const start = options.start ?? Date.UTC(2025, 0, 1);
  const interval = options.intervalMs ?? 10;
  const attackEvery = Math.max(1, Math.round(1 / Math.max(options.attackShare ?? 0.05, 1e-6)));
  const base = baselineSignals();

  for (let index = 0; index < count; index += 1) {
    const attack = index % attackEvery === 0;
    const host = attack ? 0 : 1 + (index % 5000);
    const address = `${64 + (host % 100)}.${(host * 37) % 256}.${(host * 101) % 256}.${1 + (host % 250)}`;
    // A household: each address logs in to one of its own two accounts.
    const member = attack ? `stuffed-${index}` : `user-${host * 2 + (mix(index) % 2)}`;
    const signals = {
      ...base,
      ip: { ...base.ip, address, key: address },
      ua: attack ? { ...base.ua, automation: true } : base.ua,
    };
    yield {
      time: start + index * interval,
      signals,
      parts: { ip: address, ip_prefix: prefixOf(address), username: member, fingerprint: attack ? 'tool' : 'browser', route: 'route-1' },
      member,
      outcome: attack || mix(index + 1) % 10 === 0 ? 'failure' : 'success',
      forwarded: true,
      stepUpOk: false,
      recorded: { decision: 'allow', rules: [] },
      label: attack ? 'attack' : 'legitimate',
      origin: `synthetic:${index + 1}`,
    };
  }
}

/** A fixed integer hash (the 32-bit finaliser of MurmurHash3), to spread accounts and failures. */
function mix(value: number): number {
  let hash = value >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

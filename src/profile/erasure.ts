import type { ManualEntryStore } from '../admin/manual-entries.js';
import type { GatewayConfig } from '../config/types.js';
import type { GatewayKeys } from '../crypto/keys.js';
import { isDistinctKind, type CounterDefinition } from '../rules/types.js';
import type { CounterStore } from '../store/store.js';
import { counterKeyFamily } from '../decision/counter-key.js';
import { accountScope, readAccount, type PrivacyOptions } from './privacy.js';

/** A counter that contains account data but cannot be found by the account alone. */
export interface RetainedCounter {
  name: string;
  reason: string;
  /** Upper bound on how long the account's share of it lives: two windows. */
  expires_within_ms: number;
}

/**
 * The report of one erasure. `POST /v1/accounts/erase` and `riskgate forget` both return
 * it, so a data-subject record reads the same whichever was used.
 */
export interface AccountErasure {
  account: { pseudonym: string };
  /** True when a login profile existed and was deleted. */
  profile_erased: boolean;
  /** Counters of the account of which at least one store key was deleted. */
  counters_erased: number;
  /**
   * Store keys deleted: the profile, the counter index and counter keys, in every store
   * erased. The manual entry's keys are not counted.
   */
  keys_deleted: number;
  manual_entry_removed: boolean;
  /**
   * The account's manual block, which an erasure keeps (see eraseAccount), with its expiry;
   * absent when there is none.
   */
  manual_block_kept?: { id: string; expires_at: string };
  /** False when nothing was deleted: the store held no data under this account's keys. */
  data_found: boolean;
  retained: RetainedCounter[];
}

/**
 * Erase the account's counters, login profile and counter index from each store, then its
 * manual allow entry. A manual block stays until it expires or an operator removes it: it
 * is the operator's decision to stop the account's logins, which an erasure request filed
 * for a blocked account must not lift. Counters are found from the username and through the account's counter
 * index, which is deleted last, so an erasure that fails halfway can be repeated. The
 * counts are the deletions that each store reports, not the keys it was asked to delete,
 * so a key that did not exist is not counted.
 */
export async function eraseAccount(
  stores: readonly CounterStore[],
  manual: Pick<ManualEntryStore, 'list' | 'remove'>,
  keys: GatewayKeys,
  config: GatewayConfig,
  username: string,
  options: PrivacyOptions = {},
): Promise<AccountErasure> {
  const scope = accountScope(keys, config, username, options);
  const countersErased = new Set<string>();
  let profileErased = false;
  let keysDeleted = 0;

  // NOTE: on Redis each erase call scans the whole keyspace (SCAN MATCH <key>*), and there
  // is one call per counter of the account, so the time grows with both.
  for (const store of stores) {
    const { indexed, profileFields } = await readAccount(store, scope);
    for (const counter of [...scope.direct, ...indexed]) {
      // A counter's key family is the prefix of its bucket keys (Redis) or of the key itself
      // (memory), under every count kind the counter has had.
      const deleted = await store.erase([counterKeyFamily(counter.key)]);
      if (deleted > 0) countersErased.add(counter.key);
      keysDeleted += deleted;
    }

    // A mark left by an earlier erasure is no data of the account, so it is not counted.
    const profileDeleted = isErasureMark(profileFields) ? 0 : await store.erase([scope.profile]);
    profileErased ||= profileDeleted > 0;
    keysDeleted += profileDeleted + (await store.erase([scope.index]));
    await store.write({
      now: scope.now,
      increments: [],
      distinct: [],
      resets: [],
      hashWrites: [{ key: scope.profile, fields: { last: ERASURE_MARK }, ttlMs: erasureMarkTtlMs(config) }],
    });
  }

  const id = `username:${scope.pseudonym}`;
  const block = (await manual.list(scope.now)).find((entry) => entry.id === id && entry.action === 'block');
  const removed = block ? undefined : await manual.remove(id, scope.now);
  return {
    account: { pseudonym: scope.pseudonym },
    profile_erased: profileErased,
    counters_erased: countersErased.size,
    keys_deleted: keysDeleted,
    manual_entry_removed: removed !== undefined,
    ...(block ? { manual_block_kept: { id: block.id, expires_at: block.expires_at } } : {}),
    data_found: keysDeleted > 0 || removed !== undefined || block !== undefined,
    retained: retainedCounters(scope.ruleSet.counters),
  };
}

/**
 * The value of a profile's `last` field after an erasure. A login that was waiting for the
 * app when the erasure ran read another value, so its profile write, which applies only
 * while `last` is as the login read it, is skipped. A login after the erasure reads the
 * mark and writes a new profile over it. The mark carries no data of the account.
 */
export const ERASURE_MARK = 'erased';

/** Return whether a stored profile hash is only the mark of an erasure. */
export function isErasureMark(fields: Readonly<Record<string, string>> | null): boolean {
  return fields !== null && fields.last === ERASURE_MARK && Object.keys(fields).length === 1;
}

/**
 * Return how long the erasure mark stays: longer than any login can wait for the app. That
 * is the connect, send and response timeouts, the response timeout again for the body, and
 * a minute for the store round trips around them.
 */
export function erasureMarkTtlMs(config: GatewayConfig): number {
  const { connectMs, sendMs, responseMs } = config.upstreamTimeouts;
  return connectMs + sendMs + 2 * responseMs + 60_000;
}

// NOTE: a distinct-username counter keeps the pseudonym inside a HyperLogLog, from which no
// member can be removed. Such counters age out within two windows.
/** List the counters that keep the account as a member of a distinct-username set. */
export function retainedCounters(definitions: readonly CounterDefinition[]): RetainedCounter[] {
  return definitions
    .filter((counter) => isDistinctKind(counter.count))
    .map((counter) => ({
      name: counter.name,
      reason: 'counts the account as one member of a distinct-username set',
      expires_within_ms: 2 * counter.windowMs,
    }));
}

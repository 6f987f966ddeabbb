import type { KeyParts } from '../decision/counter-plan.js';
import { eraseAccount as eraseAccountData, retainedCounters, type AccountErasure, type RetainedCounter } from '../profile/erasure.js';
import * as profileData from '../profile/privacy.js';
import type { GatewayContext } from '../proxy/context.js';
import { HOST_SCOPE_HINT, normalizeAccountName } from '../request/account-name.js';
import { readCounters, type CounterValue } from './counters.js';
import { AdminProblem } from './http.js';
import { ManualEntryStore, type ManualEntry } from './manual-entries.js';

export interface AccountExport {
  account: { pseudonym: string };
  /** The login profile of earlier successes, as `riskgate export` prints it. */
  profile: profileData.AccountExport['profile'];
  counters: CounterValue[];
  manual_entry: ManualEntry | null;
  retained: RetainedCounter[];
}

interface AccountScope {
  username: string;
  pseudonym: string;
  /** Key parts per login route: the account with each route id. */
  partsByRoute: KeyParts[];
}

/**
 * Export everything riskgate stores under one account: its login profile, the counters
 * keyed by the account (alone, with a route, or with an address or device), and its manual
 * entry. Distinct-username counters are listed as retained, since one account cannot be
 * read out of them.
 */
export async function exportAccount(context: GatewayContext, rawUsername: string, now = Date.now()): Promise<AccountExport> {
  const scope = accountScope(context, rawUsername);

  const seen = new Set<string>();
  const counters: CounterValue[] = [];
  for (const parts of scope.partsByRoute) {
    for (const counter of (await readCounters(context, parts, now)).counters) {
      const id = `${counter.name}\u0000${counter.key.includes('route') ? parts.route : ''}`;
      if (seen.has(id)) continue;
      seen.add(id);
      counters.push(counter.key.includes('route') ? { ...counter, route: parts.route } : counter);
    }
  }

  const manual = new ManualEntryStore(context.store, context.config.store.keyPrefix);
  const entry = (await manual.list(now)).find((candidate) => candidate.id === `username:${scope.pseudonym}`);
  const stored = await profileData.exportAccount(context.store.primary, context.keys, context.config, rawUsername,
    { ruleSet: context.rules.current, now });

  // Counters that key the account with an address or device are found through the account's
  // index. Their other part is stored as a keyed digest, so it is named but not shown.
  const direct = new Set(counters.map((counter) => counter.name));
  for (const counter of stored.counters) {
    if (direct.has(counter.name)) continue;
    // A counter that a reload removed has no definition left, so its key and kind are unknown.
    const definition = context.rules.current.counters.find((candidate) => candidate.name === counter.name);
    counters.push({
      name: counter.name,
      key: definition?.key ?? ['username'],
      ...(definition ? { count: definition.count } : {}),
      window_ms: counter.window_ms,
      value: counter.value,
    });
  }

  return {
    account: { pseudonym: scope.pseudonym },
    profile: stored.profile,
    counters,
    manual_entry: entry ?? null,
    retained: retainedCounters(context.rules.current.counters),
  };
}

/**
 * Erase everything riskgate stores under one account, in the primary store and the outage
 * fallback: its login profile, the counters keyed by the account (alone, with a route, or
 * with an address or device through the account's counter index) and its manual entry.
 */
export async function eraseAccount(context: GatewayContext, rawUsername: string, now = Date.now()): Promise<AccountErasure> {
  // Validates the username with a 400 problem before anything is deleted.
  accountScope(context, rawUsername);

  const manual = new ManualEntryStore(context.store, context.config.store.keyPrefix);
  const stores = [context.store.primary, context.store.fallback];
  return eraseAccountData(stores, manual, context.keys, context.config, rawUsername, { ruleSet: context.rules.current, now });
}

function accountScope(context: GatewayContext, rawUsername: string): AccountScope {
  const username = normalizeAccountName(rawUsername, context.config.username);
  if (username === undefined) throw new AdminProblem(400, 'invalid request body', HOST_SCOPE_HINT);
  if (!username) throw new AdminProblem(400, 'invalid request body', 'username is empty after normalisation');
  const partsByRoute = context.config.loginRoutes.map((route) => ({ username, route: route.id }));
  return { username, pseudonym: context.keys.pseudonymize(username), partsByRoute };
}

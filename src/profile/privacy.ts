import type { GatewayConfig } from '../config/types.js';
import type { GatewayKeys } from '../crypto/keys.js';
import { counterNameOf, otherKindKeys, storedKindOf } from '../decision/counter-key.js';
import { CounterPlan } from '../decision/counter-plan.js';
import { HOST_SCOPE_HINT, normalizeAccountName } from '../request/account-name.js';
import { loadRuleSet, type RuleSet } from '../rules/compile.js';
import { isDistinctKind } from '../rules/types.js';
import type { CounterRead, CounterStore } from '../store/store.js';
import { PROFILE_FEATURES, spellingTag } from './features.js';
import { counterIndexKey, parseIndexMember, profileKey } from './keys.js';
import { decodeProfile, entriesFor } from './profile.js';

export interface PrivacyOptions {
  /** Rule set whose counters are looked up; the config's rule files are loaded without one. */
  ruleSet?: RuleSet;
  now?: number;
}

export interface ExportedCounter {
  name: string;
  /** What the counter is keyed by besides the account, such as `ip`; the value itself is not stored. */
  keyed_by: readonly string[];
  window_ms: number;
  value: number;
}

/** What riskgate stores about one account, as a data-subject access request returns it. */
export interface AccountExport {
  account: { pseudonym: string };
  store: string;
  profile: {
    successes: number;
    first_success: string;
    last_success: string;
    expires: string;
    last_location: { at: string; latitude: number; longitude: number; accuracy_km: number } | null;
    features: Record<string, { value: string; count: number; last_seen: string; expires: string }[]>;
  } | null;
  counters: ExportedCounter[];
  /** Data kept outside the account's keys, which ages out by itself. */
  not_erasable: string[];
}

/** Store keys and counters of one account, with the rule set and time that an export or erasure uses. */
export interface AccountScope {
  pseudonym: string;
  profile: string;
  index: string;
  /** Counters found from the username alone (keyed by the account, maybe with a route). */
  direct: (CounterRead & { name: string; keyedBy: readonly string[] })[];
  ruleSet: RuleSet;
  now: number;
}

const NOT_ERASABLE = [
  'distinct-username counters hold the account pseudonym inside a HyperLogLog per address, from which one member cannot be removed; they expire two windows after their last login',
  'global frequency tables count how common each browser, country and network is across all accounts, with no account key',
  'decision log lines name the account by its pseudonym; their retention is set where the logs are shipped',
];

/**
 * Export the account's profile and counters. Counters keyed by the account and another part
 * (an address) are found through the account's counter index; their other part is shown by
 * name only, because the store keeps it as a keyed digest.
 */
export async function exportAccount(
  store: CounterStore,
  keys: GatewayKeys,
  config: GatewayConfig,
  username: string,
  options: PrivacyOptions = {},
): Promise<AccountExport> {
  const scope = accountScope(keys, config, username, options);
  const { indexed, profileFields } = await readAccount(store, scope);
  // A counter whose count kind changed on reload keeps its old-kind keys until they expire.
  // Indexed keys carry their own kind, and the direct ones are read under every kind.
  // NOTE: an old-kind key is read with the current window, so if the window changed too,
  // its value is approximate.
  const listed = new Set(indexed.map((counter) => counter.key));
  const formerKinds = scope.direct.flatMap((counter) =>
    otherKindKeys(counter.key).map((other) => ({ ...counter, ...other }))).filter((counter) => !listed.has(counter.key));
  const counters = [...scope.direct, ...indexed, ...formerKinds];
  const result = counters.length > 0 ? await store.read({ now: scope.now, counters, claims: [] }) : { counts: [] };
  const current = scope.direct.length + indexed.length;

  const retention = config.profile.retentionMs;
  // Values past the retention are no longer used, but stay stored until the account's next
  // success rewrites its profile or the profile expires, so the export shows them too.
  const profile = decodeProfile(profileFields, scope.now, Number.POSITIVE_INFINITY);
  // Spellings that the counters merge share one profile, and each value is tagged with the
  // spelling that taught it (see spellingTag). The export shows this spelling's values and
  // last location only, so an access request for carol does not reveal where cárol signs in.
  const exact = normalizeAccountName(username, config.username, 'exact');
  const spelling = exact === undefined ? undefined : spellingTag(exact, keys);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    account: { pseudonym: scope.pseudonym },
    store: store.kind,
    profile: profile
      ? {
          successes: profile.successes,
          first_success: iso(profile.firstSeen),
          last_success: iso(profile.lastSuccess),
          expires: iso(profile.lastSuccess + retention),
          last_location: profile.lastLocated && (profile.lastLocated.spelling === undefined || profile.lastLocated.spelling === spelling)
            ? {
                at: iso(profile.lastLocated.at),
                latitude: profile.lastLocated.latitude,
                longitude: profile.lastLocated.longitude,
                accuracy_km: profile.lastLocated.accuracyKm,
              }
            : null,
          features: Object.fromEntries(PROFILE_FEATURES.map((feature) => [
            feature,
            entriesFor(profile, feature, spelling).map((entry) => ({
              value: entry.value,
              count: entry.count,
              last_seen: iso(entry.lastSeen),
              expires: iso(entry.lastSeen + retention),
            })),
          ])),
        }
      : null,
    counters: counters
      .map((counter, index) => ({
        name: counter.name,
        keyed_by: counter.keyedBy,
        window_ms: counter.windowMs,
        value: result.counts[index] ?? 0,
      }))
      .filter((counter, index) => index < current || counter.value > 0),
    not_erasable: NOT_ERASABLE,
  };
}

/** Resolve what the store keeps under one account: its pseudonym, profile, index and direct counters. */
export function accountScope(keys: GatewayKeys, config: GatewayConfig, rawUsername: string, options: PrivacyOptions): AccountScope {
  const username = normalizeAccountName(rawUsername, config.username);
  if (username === undefined) throw new Error(HOST_SCOPE_HINT);
  if (!username) {
    throw new Error('the username is empty after normalisation; give the username as the app receives it');
  }
  const pseudonym = keys.pseudonymize(username);
  const prefix = config.store.keyPrefix;
  const ruleSet = options.ruleSet ?? loadRuleSet(config.rulePaths, { ipLists: config.ipLists });
  const now = options.now ?? Date.now();

  const direct = new Map<string, AccountScope['direct'][number]>();
  for (const route of config.loginRoutes) {
    const plan = new CounterPlan(ruleSet.counters, { username, route: route.id }, keys, prefix);
    for (const read of plan.readRequest(now).counters) {
      const name = counterNameOf(read.key) ?? '';
      const definition = ruleSet.counters.find((counter) => counter.name === name);
      direct.set(read.key, { ...read, name, keyedBy: definition?.key.filter((part) => part !== 'username') ?? [] });
    }
  }

  return { pseudonym, profile: profileKey(prefix, pseudonym), index: counterIndexKey(prefix, pseudonym), direct: [...direct.values()], ruleSet, now };
}

/** Read the account's profile and the counters its index names, in one round trip. */
export async function readAccount(store: CounterStore, scope: AccountScope) {
  const reading = await store.read({ now: scope.now, counters: [], claims: [], hashes: [scope.profile], sets: [scope.index] });
  const indexed: AccountScope['direct'] = [];
  // The index also lists counters that the rules in force rebuild from the username.
  const direct = new Set(scope.direct.map((counter) => counter.key));
  for (const member of reading.sets[0] ?? []) {
    const parsed = parseIndexMember(member);
    if (!parsed || direct.has(parsed.key)) continue;
    const name = counterNameOf(parsed.key) ?? 'unknown';
    const definition = scope.ruleSet.counters.find((counter) => counter.name === name);
    // The key's own kind tag, not the current definition, determines how it is stored, because
    // the definition's kind may have changed since the key was written.
    const legacyKind = definition && isDistinctKind(definition.count) ? 'distinct' : 'count';
    indexed.push({
      key: parsed.key,
      windowMs: parsed.windowMs,
      kind: storedKindOf(parsed.key) ?? legacyKind,
      name,
      keyedBy: definition?.key.filter((part) => part !== 'username') ?? [],
    });
  }
  return { indexed, profileFields: reading.hashes[0] ?? null };
}

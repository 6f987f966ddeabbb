import { PROFILE_FEATURES, type LoginFeatures, type ProfileFeature } from './features.js';

/** How often an account used one feature value, and when last. */
export interface FeatureEntry {
  value: string;
  count: number;
  /** Milliseconds since the epoch. */
  lastSeen: number;
  /**
   * Keyed digest of the name as the login spelled it (see `spellingTag`). Absent in entries
   * written before spellings were kept apart; such an entry counts for every spelling.
   */
  spelling?: string;
}

/** Where a successful login came from, when its address had a location. */
export interface LocatedSuccess {
  at: number;
  latitude: number;
  longitude: number;
  /** Radius of the geolocation's uncertainty in km, from the geo database; 0 when unknown. */
  accuracyKm: number;
  /** Spelling tag of the name that success came with; absent in profiles written before. */
  spelling?: string;
}

/** One account's history of successful logins, bounded by `ProfileLimits`. */
export interface AccountProfile {
  /** Successful logins recorded since the profile was created (it expires when unused). */
  successes: number;
  firstSeen: number;
  lastSuccess: number;
  /** The last success whose address had a location, for impossible-travel checks. */
  lastLocated?: LocatedSuccess;
  /** Entries per feature, most recently seen first. */
  features: Record<ProfileFeature, FeatureEntry[]>;
}

export interface ProfileLimits {
  /** A value unseen this long is forgotten; the whole profile expires this long after the last success. */
  retentionMs: number;
  /** Most values kept per feature; the least recently seen is evicted first. */
  maxValuesPerFeature: number;
}

/** Schema version written into every profile, so a later format can tell old ones apart. */
const FORMAT_VERSION = '1';

/**
 * Decode a profile from its store hash, dropping values and the located success older than
 * the retention. Fields that do not parse are treated as empty, so a corrupt profile
 * degrades to a new account instead of failing the login. A retention of Infinity keeps
 * everything the hash holds, as an access request must show it.
 */
export function decodeProfile(
  fields: Readonly<Record<string, string>> | null | undefined,
  now: number,
  retentionMs: number,
): AccountProfile | undefined {
  if (!fields || fields.v !== FORMAT_VERSION) return undefined;
  const successes = Number(fields.n);
  const lastSuccess = Number(fields.last);
  if (!Number.isFinite(successes) || successes < 1 || !Number.isFinite(lastSuccess)) return undefined;
  if (lastSuccess <= now - retentionMs) return undefined;

  const features = emptyFeatures();
  for (const feature of PROFILE_FEATURES) {
    features[feature] = decodeEntries(fields[feature]).filter((entry) => entry.lastSeen > now - retentionMs);
  }
  return {
    successes,
    firstSeen: Number(fields.first) || lastSuccess,
    lastSuccess,
    lastLocated: withinRetention(decodeLocated(fields.loc), now, retentionMs),
    features,
  };
}

/** Encode a profile as hash fields; every field is written, so a write replaces the whole profile. */
export function encodeProfile(profile: AccountProfile): Record<string, string> {
  const fields: Record<string, string> = {
    v: FORMAT_VERSION,
    n: String(profile.successes),
    first: String(profile.firstSeen),
    last: String(profile.lastSuccess),
    loc: profile.lastLocated ? JSON.stringify(locatedRow(profile.lastLocated)) : '',
  };
  for (const feature of PROFILE_FEATURES) {
    fields[feature] = JSON.stringify(profile.features[feature].map((entry) =>
      entry.spelling === undefined ? [entry.value, entry.count, entry.lastSeen] : [entry.value, entry.count, entry.lastSeen, entry.spelling]));
  }
  return fields;
}

/**
 * Return the profile after one more successful login: each feature value's count goes up
 * and its last-seen time moves to now; new values are added and, past the cap, the least
 * recently seen value of that feature is evicted. Values are kept per spelling of the
 * name, so a value learned under one spelling is new to another. The input is not changed.
 */
export function recordSuccess(
  profile: AccountProfile | undefined,
  features: LoginFeatures,
  location: Omit<LocatedSuccess, 'at'> | undefined,
  now: number,
  limits: ProfileLimits,
  spelling?: string,
): AccountProfile {
  const next: AccountProfile = {
    successes: (profile?.successes ?? 0) + 1,
    firstSeen: profile?.firstSeen ?? now,
    lastSuccess: now,
    // A located success past the retention goes, as the country and network of that login do.
    lastLocated: location
      ? { at: now, ...location, ...(spelling === undefined ? {} : { spelling }) }
      : withinRetention(profile?.lastLocated, now, limits.retentionMs),
    features: emptyFeatures(),
  };

  for (const feature of PROFILE_FEATURES) {
    const entries = (profile?.features[feature] ?? []).filter((entry) => entry.lastSeen > now - limits.retentionMs);
    const value = features[feature];
    let updated = entries.map((entry) => ({ ...entry }));
    if (value !== undefined) {
      // The first spelling to come does not claim an entry from before spellings were kept.
      // That entry ages out, and the success starts an entry of its own spelling.
      const existing = updated.find((entry) => entry.value === value && entry.spelling === spelling);
      if (existing) {
        existing.count += 1;
        existing.lastSeen = now;
      } else {
        updated.push(spelling === undefined ? { value, count: 1, lastSeen: now } : { value, count: 1, lastSeen: now, spelling });
      }
    }
    updated.sort((a, b) => b.lastSeen - a.lastSeen);
    if (updated.length > limits.maxValuesPerFeature) updated = updated.slice(0, limits.maxValuesPerFeature);
    next.features[feature] = updated;
  }
  return next;
}

/**
 * Return the entry of a value under a spelling of the name, or undefined when the account
 * has not used it so spelled within retention.
 */
export function findEntry(
  profile: AccountProfile | undefined,
  feature: ProfileFeature,
  value: string | undefined,
  spelling?: string,
): FeatureEntry | undefined {
  if (!profile || value === undefined) return undefined;
  return profile.features[feature].find((entry) => entry.value === value && sameSpelling(entry, spelling));
}

/** Return the entries of a feature that count for a spelling of the name. */
export function entriesFor(profile: AccountProfile, feature: ProfileFeature, spelling?: string): FeatureEntry[] {
  return profile.features[feature].filter((entry) => sameSpelling(entry, spelling));
}

function sameSpelling(entry: FeatureEntry, spelling: string | undefined): boolean {
  return spelling === undefined || entry.spelling === undefined || entry.spelling === spelling;
}

function withinRetention(located: LocatedSuccess | undefined, now: number, retentionMs: number): LocatedSuccess | undefined {
  return located !== undefined && located.at > now - retentionMs ? located : undefined;
}

function emptyFeatures(): Record<ProfileFeature, FeatureEntry[]> {
  return Object.fromEntries(PROFILE_FEATURES.map((feature) => [feature, []])) as unknown as Record<ProfileFeature, FeatureEntry[]>;
}

function decodeEntries(text: string | undefined): FeatureEntry[] {
  if (!text) return [];
  try {
    const rows: unknown = JSON.parse(text);
    if (!Array.isArray(rows)) return [];
    return rows
      .filter((row): row is [string, number, number, unknown] =>
        Array.isArray(row) && typeof row[0] === 'string' && Number.isFinite(row[1]) && Number.isFinite(row[2]))
      .map(([value, count, lastSeen, spelling]) =>
        typeof spelling === 'string' ? { value, count, lastSeen, spelling } : { value, count, lastSeen });
  } catch {
    return [];
  }
}

function locatedRow(located: LocatedSuccess): (number | string)[] {
  const row: (number | string)[] = [located.at, located.latitude, located.longitude, located.accuracyKm];
  if (located.spelling !== undefined) row.push(located.spelling);
  return row;
}

function decodeLocated(text: string | undefined): LocatedSuccess | undefined {
  if (!text) return undefined;
  try {
    const row: unknown = JSON.parse(text);
    if (!Array.isArray(row) || row.length < 4 || row.length > 5 || !row.slice(0, 4).every((item) => Number.isFinite(item))) return undefined;
    const [at, latitude, longitude, accuracyKm] = row as number[];
    const spelling: unknown = row[4];
    return typeof spelling === 'string' ? { at, latitude, longitude, accuracyKm, spelling } : { at, latitude, longitude, accuracyKm };
  } catch {
    return undefined;
  }
}

import type { Logger } from 'pino';

import type { GatewayKeys } from '../crypto/keys.js';
import type { GeoLookup } from '../geo/resolver.js';
import type { SignalValues } from '../signals/catalog.js';
import type { WriteRequest } from '../store/store.js';
import { deviceFeature, loginFeatures, type FeatureSource, type LoginFeatures } from './features.js';
import { GlobalFrequencies, type FrequencyStore } from './frequencies.js';
import { profileKey } from './keys.js';
import { decodeProfile, encodeProfile, findEntry, recordSuccess, type AccountProfile, type LocatedSuccess } from './profile.js';
import { accountRisk } from './risk.js';
import { travelSince } from './travel.js';

export interface AccountRiskOptions {
  retentionMs: number;
  maxValuesPerFeature: number;
  maxSpeedKmh: number;
  /** Values tracked per feature in the global frequency tables. */
  globalMaxValues: number;
  /** How often the local frequency counts are merged into the store. */
  syncIntervalMs: number;
}

/** One login's view of its account: the features it shows and the history they meet. */
export interface AccountAssessment {
  features: LoginFeatures;
  location: Omit<LocatedSuccess, 'at'> | undefined;
  profile: AccountProfile | undefined;
  /** The login's spelling tag, under which a success is learned. */
  spelling: string | undefined;
  /**
   * The stored profile's last success time as read ('' when none), which its next write
   * expects to find. A success since, or an erasure and a new first success, changes it.
   */
  storedLastSuccess: string;
  signals: Pick<SignalValues, 'account' | 'travel'>;
}

/**
 * Per-account risk: compares a login with the account's profile of earlier successes and
 * with how common its values are across all logins, and builds the profile update after a
 * success. The profile itself is read and written by the login's own store round trips.
 */
export class AccountRisk {
  readonly frequencies: GlobalFrequencies;
  private syncTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly options: AccountRiskOptions,
    private readonly keys: GatewayKeys,
  ) {
    this.frequencies = new GlobalFrequencies(options.globalMaxValues);
  }

  /** Compute the `account.*` and `travel.*` signals of a login from its stored profile. */
  assess(source: FeatureSource, profileFields: Readonly<Record<string, string>> | null | undefined, now: number): AccountAssessment {
    const features = loginFeatures(source, this.keys);
    const location = locationOf(source.lookup);
    const profile = decodeProfile(profileFields, now, this.options.retentionMs);
    const spelling = source.spelling;
    const known = (feature: keyof LoginFeatures) => findEntry(profile, feature, features[feature], spelling) !== undefined;
    const days = profile ? Math.floor((now - profile.lastSuccess) / 86_400_000) : -1;

    const signals = {
      account: {
        first_login: profile === undefined,
        known_device: known('device'),
        known_browser: known('browser'),
        known_country: known('country'),
        known_asn: known('asn'),
        known_network: known('network'),
        days_since_last_success: BigInt(Math.max(-1, days)),
        successes: BigInt(profile?.successes ?? 0),
        risk: accountRisk(profile, features, this.frequencies, spelling),
      },
      travel: { ...travelSince(profile?.lastLocated, location, now, this.options.maxSpeedKmh) },
    };
    return { features, location, profile, spelling, storedLastSuccess: profileFields?.last ?? '', signals };
  }

  /**
   * Build the profile write for a login the app accepted; merged into the outcome's write.
   * `deviceId` is the id of the device cookie the success sets, which is a new one when
   * the login came without a cookie.
   */
  profileWrite(
    prefix: string,
    pseudonym: string,
    assessment: AccountAssessment,
    deviceId: string,
    now: number,
  ): NonNullable<WriteRequest['hashWrites']>[number] {
    const features = { ...assessment.features, device: deviceFeature(deviceId, this.keys) };
    const next = recordSuccess(assessment.profile, features, assessment.location, now, this.options, assessment.spelling);
    // The write is skipped when the profile changed since it was read: an erasure while the
    // login waited for the app must not be undone, and a concurrent success's write stays.
    return {
      key: profileKey(prefix, pseudonym),
      fields: encodeProfile(next),
      ttlMs: this.options.retentionMs,
      ifField: { field: 'last', value: assessment.storedLastSuccess },
    };
  }

  /** Start merging the global frequency counts into the store every sync interval. */
  startSync(store: FrequencyStore, prefix: string, logger: Logger, clock: () => number): void {
    this.stopSync();
    let running = false;
    this.syncTimer = setInterval(() => {
      if (running) return;
      running = true;
      this.frequencies
        .sync(store, prefix, clock())
        .catch((error: unknown) => {
          // An outage is logged once by the store; this only notes the skipped merge.
          logger.debug({ err: error }, 'login frequency sync skipped');
        })
        .finally(() => {
          running = false;
        });
    }, this.options.syncIntervalMs);
    this.syncTimer.unref();
  }

  stopSync(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
  }
}

function locationOf(lookup: GeoLookup): Omit<LocatedSuccess, 'at'> | undefined {
  if (!lookup.geo.known) return undefined;
  return { latitude: lookup.geo.latitude, longitude: lookup.geo.longitude, accuracyKm: lookup.accuracyKm };
}

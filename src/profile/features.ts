import type { GatewayKeys } from '../crypto/keys.js';
import type { GeoLookup } from '../geo/resolver.js';
import type { ClientAddress } from '../request/client-ip.js';
import type { UserAgentSignals } from '../request/user-agent.js';

/**
 * What an account profile remembers about each successful login. Each feature keeps the
 * least data that still tells a repeat from a first: the device cookie's id as a keyed
 * hash, the network as a /24 (IPv4) or /64 (IPv6) rather than the address.
 */
export const PROFILE_FEATURES = ['device', 'browser', 'os', 'country', 'region', 'city', 'asn', 'network'] as const;

export type ProfileFeature = (typeof PROFILE_FEATURES)[number];

/** One login's value per feature; a feature the login does not show (no cookie, no geo) is absent. */
export type LoginFeatures = Partial<Record<ProfileFeature, string>>;

/** Longest feature value stored; longer values (city names, browser names) are cut. */
export const MAX_FEATURE_VALUE_LENGTH = 64;

export interface FeatureSource {
  client: ClientAddress;
  lookup: GeoLookup;
  userAgent: Pick<UserAgentSignals, 'browser' | 'os'>;
  /** Device id from a valid device cookie, or undefined without one. */
  deviceId: string | undefined;
  /** The name as this login spells it, as `spellingTag` writes it; undefined without a name. */
  spelling?: string;
}

/**
 * The profile value of a device: a keyed hash of the device cookie's id, so the store never
 * holds the identifier the browser carries and cannot be joined with other records of it.
 */
export function deviceFeature(deviceId: string, keys: GatewayKeys): string {
  return keys.counterDigest('profile.device', [deviceId]);
}

/**
 * Tag one spelling of an account's name for the profile with a short keyed hash of its
 * exact reading. Counters merge spellings that an app may keep apart (`cárol` and `carol` under
 * accent folding), so the profile keeps what each spelling's successes taught apart, and a
 * look-alike account cannot make its own country or network familiar to the other.
 */
export function spellingTag(exactAccount: string, keys: GatewayKeys): string {
  return keys.counterDigest('profile.spelling', [exactAccount]).slice(0, 11);
}

/** Extract a login's profile features from what the request already revealed. */
export function loginFeatures(source: FeatureSource, keys: GatewayKeys): LoginFeatures {
  const features: LoginFeatures = {};
  const { geo, asn } = source.lookup;
  const set = (feature: ProfileFeature, value: string) => {
    if (value !== '') features[feature] = value.slice(0, MAX_FEATURE_VALUE_LENGTH);
  };

  if (source.deviceId) set('device', deviceFeature(source.deviceId, keys));
  set('browser', source.userAgent.browser);
  set('os', source.userAgent.os);

  if (geo.known) {
    set('country', geo.country);
    if (geo.region) set('region', `${geo.country}-${geo.region}`);
    if (geo.city) set('city', `${geo.country}-${geo.region}:${geo.city}`);
  }
  if (asn > 0) set('asn', String(asn));

  set('network', source.client.version === 4 ? source.client.prefix : source.client.key);
  return features;
}

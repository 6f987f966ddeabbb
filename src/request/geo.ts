import geoip from 'geoip-lite';

export interface GeoSignals {
  known: boolean;
  country: string;
  region: string;
  city: string;
  latitude: number;
  longitude: number;
}

const UNKNOWN: GeoSignals = Object.freeze({
  known: false,
  country: '',
  region: '',
  city: '',
  latitude: 0,
  longitude: 0,
});

/**
 * Look an address up in geoip-lite's bundled database. Private, reserved and unlisted
 * addresses come back with `known: false`, which rules can score like any other signal.
 */
export function lookupGeo(address: string, isPrivate: boolean): GeoSignals {
  if (isPrivate) {
    return UNKNOWN;
  }
  const found = geoip.lookup(address);
  if (!found || !found.country) {
    return UNKNOWN;
  }
  return {
    known: true,
    country: found.country,
    region: found.region ?? '',
    city: found.city ?? '',
    latitude: found.ll?.[0] ?? 0,
    longitude: found.ll?.[1] ?? 0,
  };
}

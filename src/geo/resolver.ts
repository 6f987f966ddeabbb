import { readFileSync } from 'node:fs';

import geoip from 'geoip-lite';
import { Reader, type AsnResponse, type CityResponse } from 'maxmind';

import { RiskgateError } from '../errors.js';
import type { GeoSignals } from '../request/geo.js';

/** Where an address is, and which network (autonomous system) announces it. */
export interface GeoLookup {
  geo: GeoSignals;
  /** Autonomous system number, or 0 when unknown (geoip-lite has no ASN data). */
  asn: number;
  asOrganization: string;
  /** Radius around the coordinates that contains the address, in km; 0 when unknown. */
  accuracyKm: number;
}

export interface GeoDatabases {
  /** MaxMind City or Country database (GeoLite2 or GeoIP2); geoip-lite is used without one. */
  cityFile?: string;
  /** MaxMind ASN database (GeoLite2-ASN or GeoIP2-ISP). */
  asnFile?: string;
}

const UNKNOWN_GEO: GeoSignals = Object.freeze({
  known: false,
  country: '',
  region: '',
  city: '',
  latitude: 0,
  longitude: 0,
});

/**
 * Resolves addresses with MaxMind databases when configured, and with geoip-lite's bundled
 * data for the location otherwise. Private and reserved addresses are never looked up.
 */
export class GeoResolver {
  private constructor(
    private readonly city: Reader<CityResponse> | undefined,
    private readonly asn: Reader<AsnResponse> | undefined,
  ) {}

  /** Open the configured databases; throws RG_ERR_CONFIG_INVALID naming a file that cannot be read. */
  static open(databases: GeoDatabases = {}): GeoResolver {
    const city = databases.cityFile ? openReader<CityResponse>(databases.cityFile, 'geo.maxmind_city') : undefined;
    const asn = databases.asnFile ? openReader<AsnResponse>(databases.asnFile, 'geo.maxmind_asn') : undefined;
    return new GeoResolver(city, asn);
  }

  /** Which source resolves locations: `maxmind` or `geoip-lite`. */
  get locationSource(): 'maxmind' | 'geoip-lite' {
    return this.city ? 'maxmind' : 'geoip-lite';
  }

  lookup(address: string, isPrivate: boolean): GeoLookup {
    if (isPrivate) {
      return { geo: UNKNOWN_GEO, asn: 0, asOrganization: '', accuracyKm: 0 };
    }
    const location = this.city ? this.maxmindLocation(address) : geoipLiteLocation(address);
    const network = this.asn?.get(address);
    return {
      ...location,
      asn: network?.autonomous_system_number ?? 0,
      asOrganization: network?.autonomous_system_organization ?? '',
    };
  }

  private maxmindLocation(address: string): { geo: GeoSignals; accuracyKm: number } {
    const found = this.city?.get(address);
    const country = found?.country?.iso_code ?? found?.registered_country?.iso_code;
    if (!found || !country) {
      return { geo: UNKNOWN_GEO, accuracyKm: 0 };
    }
    return {
      geo: {
        known: true,
        country,
        region: found.subdivisions?.[0]?.iso_code ?? '',
        city: found.city?.names?.en ?? '',
        latitude: found.location?.latitude ?? 0,
        longitude: found.location?.longitude ?? 0,
      },
      accuracyKm: found.location?.accuracy_radius ?? 0,
    };
  }
}

function geoipLiteLocation(address: string): { geo: GeoSignals; accuracyKm: number } {
  const found = geoip.lookup(address);
  if (!found || !found.country) {
    return { geo: UNKNOWN_GEO, accuracyKm: 0 };
  }
  return {
    geo: {
      known: true,
      country: found.country,
      region: found.region ?? '',
      city: found.city ?? '',
      latitude: found.ll?.[0] ?? 0,
      longitude: found.ll?.[1] ?? 0,
    },
    accuracyKm: found.area ?? 0,
  };
}

function openReader<T extends CityResponse | AsnResponse>(file: string, key: string): Reader<T> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new RiskgateError('RG_ERR_CONFIG_INVALID', `${key}: cannot read ${file}: ${reason}; set ${key} to a MaxMind .mmdb file or remove it`);
  }
  try {
    return new Reader<T>(data);
  } catch (error) {
    throw new RiskgateError('RG_ERR_CONFIG_INVALID',
      `${key}: ${file} is not a MaxMind DB file (${(error as Error).message}); download the .mmdb, not the CSV or tar.gz`);
  }
}

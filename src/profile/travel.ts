import type { LocatedSuccess } from './profile.js';

/** Mean Earth radius (IUGG), in km. */
const EARTH_RADIUS_KM = 6371.0088;

/** Elapsed times below this count as this, so two logins in one second give a finite speed. */
const MIN_ELAPSED_MS = 60_000;

export interface TravelSignals {
  /** Great-circle distance from the last located success, in km; 0 without one. */
  distance_km: number;
  /** `distance_km` divided by the time since that success (at least one minute), in km/h. */
  speed_kmh: number;
  /** True when the speed stays above the limit even after both locations' uncertainty is subtracted. */
  impossible: boolean;
}

export const NO_TRAVEL: TravelSignals = Object.freeze({ distance_km: 0, speed_kmh: 0, impossible: false });

/** Great-circle distance between two points by the haversine formula, in km. */
export function greatCircleKm(latitudeA: number, longitudeA: number, latitudeB: number, longitudeB: number): number {
  const radians = Math.PI / 180;
  const dLatitude = (latitudeB - latitudeA) * radians;
  const dLongitude = (longitudeB - longitudeA) * radians;
  const h =
    Math.sin(dLatitude / 2) ** 2 +
    Math.cos(latitudeA * radians) * Math.cos(latitudeB * radians) * Math.sin(dLongitude / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Travel since the last located success. Geolocation is only accurate to a radius (a city,
 * sometimes a country), so `impossible` subtracts both radii from the distance first:
 * two neighbouring cities a minute apart are not impossible travel.
 */
export function travelSince(
  last: LocatedSuccess | undefined,
  current: Omit<LocatedSuccess, 'at'> | undefined,
  now: number,
  maxSpeedKmh: number,
): TravelSignals {
  if (!last || !current || now < last.at) return NO_TRAVEL;

  const distance = greatCircleKm(last.latitude, last.longitude, current.latitude, current.longitude);
  const hours = Math.max(now - last.at, MIN_ELAPSED_MS) / 3_600_000;
  const beyondUncertainty = Math.max(0, distance - last.accuracyKm - current.accuracyKm);
  return {
    distance_km: round(distance),
    speed_kmh: round(distance / hours),
    impossible: beyondUncertainty / hours > maxSpeedKmh,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

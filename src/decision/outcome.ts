import type { LoginRoute } from '../config/types.js';
import { normalizePath } from '../request/path.js';

/** Classify an app's status code as a login success or failure by the route's lists. */
export function classifyStatus(
  status: number,
  success: readonly string[],
  failure: readonly string[],
): 'success' | 'failure' | 'unknown' {
  if (matches(status, failure)) return 'failure';
  if (matches(status, success)) return 'success';
  return 'unknown';
}

/**
 * Classify an app's response to a login: by status, except that a redirect whose Location
 * names one of the route's `failureLocation` paths is a failure. Form-login apps (Spring
 * Security, Devise) redirect both outcomes, a failure back to the login page.
 */
export function classifyResponse(
  status: number,
  location: string | undefined,
  route: Pick<LoginRoute, 'successStatus' | 'failureStatus' | 'failureLocation'>,
): 'success' | 'failure' | 'unknown' {
  if (status >= 300 && status < 400 && location !== undefined && route.failureLocation.length > 0) {
    const reading = normalizePath(locationPath(location));
    if ('path' in reading && route.failureLocation.includes(reading.path)) return 'failure';
  }
  return classifyStatus(status, route.successStatus, route.failureStatus);
}

/** Return the path of a Location value, which may be an absolute URL or a path with a query. */
function locationPath(location: string): string {
  try {
    return new URL(location, 'http://location.invalid').pathname;
  } catch {
    return location;
  }
}

function matches(status: number, patterns: readonly string[]): boolean {
  const text = String(status);
  return patterns.some((pattern) =>
    pattern.endsWith('xx') ? text[0] === pattern[0] && text.length === 3 : pattern === text,
  );
}

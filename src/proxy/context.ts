import type { Logger } from 'pino';

import { DeviceCookies } from '../challenge/device-cookie.js';
import type { StepUpVerifier } from '../challenge/step-up.js';
import type { GatewayConfig, LoginRoute } from '../config/types.js';
import { GatewayKeys } from '../crypto/keys.js';
import { TrustedProxies } from '../request/client-ip.js';
import { routeCandidates } from '../request/path.js';
import type { RuleSet } from '../rules/compile.js';
import type { ManualMatcher } from '../admin/manual-match.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { GeoResolver } from '../geo/resolver.js';
import type { AccountRisk } from '../profile/account-risk.js';
import type { ResilientStore } from '../store/resilient.js';
import type { UpstreamTarget } from './forward.js';

/** Holds the rule set in force; a reload replaces the reference, so each request sees one set. */
export class RuleSetHolder {
  constructor(public current: RuleSet) {}
}

/** Everything a request handler needs, built once at start-up. */
export interface GatewayContext {
  config: GatewayConfig;
  logger: Logger;
  rules: RuleSetHolder;
  store: ResilientStore;
  keys: GatewayKeys;
  trustedProxies: TrustedProxies;
  stepUp: StepUpVerifier;
  deviceCookies: DeviceCookies;
  upstream: UpstreamTarget;
  /** Login routes by `METHOD normalised-path`. */
  routes: Map<string, LoginRoute>;
  clock: () => number;
  /** Location and network of client addresses: MaxMind when configured, else geoip-lite. */
  geo: GeoResolver;
  /** Account profiles and the signals they give (account.*, travel.*). */
  accountRisk: AccountRisk;
  metrics: GatewayMetrics;
  /** Manual blocks and allows, applied before the rules. */
  manual: ManualMatcher;
}

export function routeKey(method: string, normalizedPath: string): string {
  return `${method} ${normalizedPath}`;
}

/** Find the login route that a method and a normalised path reach, trying each reading of the path. */
export function findLoginRoute(routes: ReadonlyMap<string, LoginRoute>, method: string, normalizedPath: string): LoginRoute | undefined {
  for (const candidate of routeCandidates(normalizedPath)) {
    const route = routes.get(routeKey(method, candidate));
    if (route) return route;
  }
  return undefined;
}

/** Map each normalised login path to the methods its routes accept. */
export function loginPathMethods(routes: ReadonlyMap<string, LoginRoute>): Map<string, string[]> {
  const paths = new Map<string, string[]>();
  for (const key of routes.keys()) {
    const separator = key.indexOf(' ');
    const path = key.slice(separator + 1);
    paths.set(path, [...(paths.get(path) ?? []), key.slice(0, separator)]);
  }
  return paths;
}

/** Return the methods of the login routes that a normalised path reaches by any of its readings, if any. */
export function loginMethodsAt(paths: ReadonlyMap<string, readonly string[]>, normalizedPath: string): readonly string[] | undefined {
  for (const candidate of routeCandidates(normalizedPath)) {
    const methods = paths.get(candidate);
    if (methods) return methods;
  }
  return undefined;
}

export function createDeviceCookies(config: GatewayConfig, keys: GatewayKeys, clock: () => number): DeviceCookies {
  return new DeviceCookies(keys.cookie, config.deviceCookie, clock);
}

export { GatewayKeys, TrustedProxies };

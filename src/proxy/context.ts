import type { Logger } from 'pino';

import { DeviceCookies } from '../challenge/device-cookie.js';
import type { StepUpVerifier } from '../challenge/step-up.js';
import type { GatewayConfig, LoginRoute } from '../config/types.js';
import { GatewayKeys } from '../crypto/keys.js';
import { TrustedProxies } from '../request/client-ip.js';
import type { RuleSet } from '../rules/compile.js';
import type { ManualMatcher } from '../admin/manual-match.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { GeoResolver } from '../geo/resolver.js';
import type { AccountRisk } from '../profile/account-risk.js';
import type { ResilientStore } from '../store/resilient.js';
import type { WebhookSink } from '../webhook/sink.js';
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
  /** Receiver of decision documents, when `webhook` is configured. */
  webhook?: WebhookSink;
}

export function routeKey(method: string, normalizedPath: string): string {
  return `${method} ${normalizedPath}`;
}

export function createDeviceCookies(config: GatewayConfig, keys: GatewayKeys, clock: () => number): DeviceCookies {
  return new DeviceCookies(keys.cookie, config.deviceCookie, clock);
}

export { GatewayKeys, TrustedProxies };

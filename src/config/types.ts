import type { UsernameNormalization } from '../request/username.js';

export type StoreFailMode = 'open' | 'closed';
export type GatewayMode = 'enforce' | 'monitor';

/** One login endpoint; every route shares one account's counters and history. */
export interface LoginRoute {
  id: string;
  method: string;
  /** Normalised path (see request/path.ts) that requests are matched against. */
  path: string;
  body: 'json' | 'form' | 'auto';
  usernameField: string;
  onStoreError: StoreFailMode;
  /** Status-code classes (for example `2xx`) or codes (`302`) that mean the login succeeded. */
  successStatus: readonly string[];
  failureStatus: readonly string[];
}

export interface StepUpConfig {
  mode: 'step-up' | 'forward';
  mfaUrl: string;
  header: string;
  ttlMs: number;
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  publicKeyFile?: string;
  jwksFile?: string;
  jwksUrl?: string;
}

/** The validated, frozen configuration that every module reads. */
export interface GatewayConfig {
  /** File the config was read from, or `<embedded>` for the demo defaults. */
  source: string;
  listen: { host: string; port: number };
  upstream: URL;
  trustedProxies: readonly string[];
  mode: GatewayMode;
  store: { url: string; keyPrefix: string; timeoutMs: number; memoryMaxEntries: number };
  loginRoutes: readonly LoginRoute[];
  username: UsernameNormalization;
  rulePaths: readonly string[];
  bodyLimitBytes: number;
  challenge: StepUpConfig;
  block: { status: 403 | 429; retryAfterMs: number };
  deviceCookie: { name: string; maxAgeMs: number; secure: boolean };
  upstreamTimeouts: { connectMs: number; responseMs: number };
  log: {
    level: string;
    username: 'pseudonymise' | 'plain' | 'omit';
    destination: string;
  };
  secret: string;
}

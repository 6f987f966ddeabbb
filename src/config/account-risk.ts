import { resolve } from 'node:path';

import type { SourceProblem } from '../errors.js';
import { IP_LIST_NAME } from '../geo/ip-lists.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { DURATION_PATTERN, parseDurationMs } from './duration.js';
import { readStoreUrl } from './store-url.js';
import type { GatewayConfig } from './types.js';
import { hideUrlUserInfo } from './url-user-info.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

const duration = { type: 'string', pattern: DURATION_PATTERN };
const hostPort = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$' };

/** Longest profile retention accepted; longer would keep login history past any need. */
export const MAX_PROFILE_RETENTION_MS = 400 * 86_400_000;

/** JSON Schema of the `profile`, `geo` and `ip_lists` keys. */
export const ACCOUNT_RISK_SCHEMA = {
  profile: {
    type: 'object',
    additionalProperties: false,
    properties: {
      retention: duration,
      max_values_per_feature: { type: 'integer', minimum: 1, maximum: 256 },
      max_speed_kmh: { type: 'number', exclusiveMinimum: 0 },
    },
  },
  geo: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxmind_city: { type: 'string', minLength: 1 },
      maxmind_asn: { type: 'string', minLength: 1 },
    },
  },
  ip_lists: {
    type: 'object',
    propertyNames: { pattern: IP_LIST_NAME.source },
    additionalProperties: { type: 'string', minLength: 1 },
  },
} as const;

/** JSON Schema of the Redis topology keys inside `store`. */
export const STORE_TOPOLOGY_SCHEMA = {
  cluster: { type: 'array', minItems: 1, items: hostPort },
  sentinels: { type: 'array', minItems: 1, items: hostPort },
  sentinel_name: { type: 'string', minLength: 1 },
  tls: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ca_file: { type: 'string', minLength: 1 },
      cert_file: { type: 'string', minLength: 1 },
      key_file: { type: 'string', minLength: 1 },
      server_name: { type: 'string', minLength: 1 },
      reject_unauthorized: { type: 'boolean' },
    },
  },
} as const;

/** Check what the schema cannot: the retention cap and the Redis topology combinations. */
export function checkAccountRiskValues(merged: RawConfig, source: YamlSource, env: NodeJS.ProcessEnv = {}): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const retention = merged.profile?.retention;
  if (typeof retention === 'string' && new RegExp(DURATION_PATTERN).test(retention)) {
    if (parseDurationMs(retention) > MAX_PROFILE_RETENTION_MS) {
      problems.push(source.problemAt(['profile', 'retention'],
        `profile.retention "${retention}" is longer than the 400d maximum; login history is kept only as long as it helps tell owners from attackers`));
    }
  }

  const store: RawConfig = merged.store ?? {};
  if (store.cluster && store.sentinels) {
    problems.push(source.problemAt(['store', 'sentinels'], 'store.cluster and store.sentinels are both set; a store is a Cluster or a Sentinel-managed master, not both'));
  }
  if (store.sentinels && !store.sentinel_name) {
    problems.push(source.problemAt(['store', 'sentinels'], 'store.sentinels needs store.sentinel_name: the master name the sentinels monitor'));
  }
  if ((store.cluster || store.sentinels) && store.url === 'memory') {
    problems.push(source.problemAt(['store', 'url'],
      'store.url is memory, but store.cluster or store.sentinels names Redis; remove store.url or set it to redis:// (or rediss://) with the credentials'));
  }
  // The schema checks the scheme only. The URL is read here as the store reads it when it
  // connects, so that `check` fails on what would stop `start`.
  const storeUrl = typeof store.url === 'string' && /^rediss?:\/\//i.test(store.url) ? readStoreUrl(store.url) : undefined;
  if (storeUrl && 'problem' in storeUrl) {
    const redactedUrl = hideUrlUserInfo(store.url);
    // A value from REDIS_URL has no line in the file to point at.
    problems.push(env.REDIS_URL
      ? { file: 'environment', line: 0, column: 0, message: `REDIS_URL "${redactedUrl}" ${storeUrl.problem} (REDIS_URL overrides store.url)` }
      : source.problemAt(['store', 'url'], `store.url "${redactedUrl}" ${storeUrl.problem}`));
  }
  return problems;
}

/** The `profile`, `geo` and `ip_lists` parts of the resolved config; paths resolve against the config's folder. */
export function resolveAccountRiskConfig(merged: RawConfig, baseDir: string): Pick<GatewayConfig, 'profile' | 'geo' | 'ipLists'> {
  const profile = { ...CONFIG_DEFAULTS.profile, ...merged.profile };
  const geo: RawConfig = merged.geo ?? {};
  const lists: Record<string, string> = {};
  for (const [name, path] of Object.entries((merged.ip_lists ?? {}) as Record<string, string>)) {
    lists[name] = resolve(baseDir, path);
  }
  return {
    profile: {
      retentionMs: parseDurationMs(profile.retention),
      maxValuesPerFeature: profile.max_values_per_feature,
      maxSpeedKmh: profile.max_speed_kmh,
    },
    geo: {
      maxmindCity: geo.maxmind_city ? resolve(baseDir, geo.maxmind_city) : undefined,
      maxmindAsn: geo.maxmind_asn ? resolve(baseDir, geo.maxmind_asn) : undefined,
    },
    ipLists: Object.freeze(lists),
  };
}

/** The Redis topology part of `store`. */
export function resolveStoreTopology(store: RawConfig, baseDir: string): Pick<GatewayConfig['store'], 'cluster' | 'sentinels' | 'sentinelName' | 'tls'> {
  const nodes = (list: string[] | undefined) => list?.map((entry) => {
    const separator = entry.lastIndexOf(':');
    return Object.freeze({ host: entry.slice(0, separator).replace(/^\[|\]$/g, ''), port: Number(entry.slice(separator + 1)) });
  });
  const tls: RawConfig | undefined = store.tls;
  const path = (file: string | undefined) => (file ? resolve(baseDir, file) : undefined);
  return {
    cluster: nodes(store.cluster),
    sentinels: nodes(store.sentinels),
    sentinelName: store.sentinel_name,
    tls: tls
      ? {
          caFile: path(tls.ca_file),
          certFile: path(tls.cert_file),
          keyFile: path(tls.key_file),
          serverName: tls.server_name,
          rejectUnauthorized: tls.reject_unauthorized ?? true,
        }
      : undefined,
  };
}

/** Whether the store config names Redis, by URL or by Cluster or Sentinel nodes. */
export function usesRedis(store: GatewayConfig['store']): boolean {
  return store.url !== 'memory' || (store.cluster?.length ?? 0) > 0 || (store.sentinels?.length ?? 0) > 0;
}

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

import { Cluster, Redis, type RedisOptions } from 'ioredis';

import { readStoreUrl, type StoreUrlParts } from '../config/store-url.js';
import { hideQueryValues, hideUrlUserInfo } from '../config/url-user-info.js';
import { RiskgateError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** TLS settings for `rediss://` and for Cluster or Sentinel nodes; file contents are PEM. */
export interface RedisTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Name to check the server certificate against (SNI), when it differs from the host. */
  serverName?: string;
  /** false accepts any certificate; for local tests only. */
  rejectUnauthorized?: boolean;
}

/** How to reach Redis: one server by URL, a Cluster by seed nodes, or a master through Sentinel. */
export interface RedisTopology {
  /** `redis://` or `rediss://` URL; with `cluster` or `sentinels`, only its scheme and credentials apply. */
  url: string;
  cluster?: readonly HostPort[];
  sentinels?: readonly HostPort[];
  /** Master name that the sentinels monitor. */
  sentinelName?: string;
  tls?: RedisTls;
}

export type RedisClient = Redis | Cluster;

/**
 * Create the ioredis client for a topology. Every mode fails commands at once while
 * disconnected (no offline queue) and retries no command, so a login waits at most the
 * store timeout and the outage fallback decides instead.
 *
 * The client sets no `commandTimeout`: ioredis would start and clear a timer for every
 * command, about a fifth of its CPU per pipeline, while RedisStore already bounds each
 * round trip as a whole by the store timeout.
 */
export function createRedisClient(topology: RedisTopology, timeoutMs: number, extra: RedisOptions = {}): RedisClient {
  const url = new URL(topology.url);
  const tls = tlsOptions(topology, url);
  const parts = storeUrlParts(topology.url);
  const credentials = { username: parts.username, password: parts.password };
  const common: RedisOptions = {
    // Commands of concurrent requests issued in the same tick go out in one write.
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(1000, timeoutMs * 4),
    // A master demoted to a replica rejects writes with READONLY. Reconnecting finds the
    // new master, through the sentinels or through the URL's host when a provider moves it.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
    ...credentials,
    ...(tls ? { tls } : {}),
  };

  if (topology.cluster && topology.cluster.length > 0) {
    return new Cluster(topology.cluster.map((node) => ({ ...node })), {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      slotsRefreshTimeout: Math.max(1000, timeoutMs * 4),
      redisOptions: { ...common, ...extra },
    });
  }

  if (topology.sentinels && topology.sentinels.length > 0) {
    return new Redis({
      ...common,
      sentinels: topology.sentinels.map((node) => ({ ...node })),
      name: topology.sentinelName,
      sentinelCommandTimeout: Math.max(1000, timeoutMs * 4),
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      // Reconnect as soon as a sentinel announces +switch-master. Without it, writes keep
      // going to the old master until it is turned into a replica, which can take several
      // seconds, and are then lost when it resyncs from the new master.
      failoverDetector: true,
      enableTLSForSentinelMode: tls !== undefined,
      ...(tls ? { sentinelTLS: tls } : {}),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      db: parts.database,
      ...extra,
    });
  }

  return new Redis(topology.url, {
    ...common,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
    db: parts.database,
    ...extra,
  });
}

/**
 * Describe where a topology points, for the start-up line, without its credentials:
 * the URL without user, password and query values (the Redis client reads `?password=`), or the Cluster seed nodes, or the sentinels and the
 * master name.
 */
export function describeTopology(topology: RedisTopology): string {
  const nodes = (list: readonly HostPort[]) => list.map((node) => `${node.host}:${node.port}`).join(', ');
  if (topology.cluster && topology.cluster.length > 0) return `cluster ${nodes(topology.cluster)}`;
  if (topology.sentinels && topology.sentinels.length > 0) {
    return `sentinel master ${topology.sentinelName ?? ''} via ${nodes(topology.sentinels)}`;
  }
  const url = new URL(topology.url);
  url.username = '';
  url.password = '';
  return hideQueryValues(url.href);
}

/**
 * The last connection error of a client (refused, timed out, TLS handshake failed), kept
 * until it connects again. A command refused while disconnected does not say why, so its
 * error message gets this one appended. Listening also stops ioredis from printing every
 * reconnect failure itself; the outage log lines report them instead.
 */
export class ConnectionErrors {
  last: string | undefined;

  constructor(private readonly client: RedisClient) {
    const record = (error: Error) => {
      this.last = error.message;
    };
    client.on('error', record);
    client.on('node error', record);
    client.on('ready', () => {
      this.last = undefined;
    });
  }

  /** ` (last connection error: …)` while the client is not connected and an error is known, else empty. */
  cause(): string {
    if (this.client.status === 'ready' || this.last === undefined) return '';
    return ` (last connection error: ${this.last})`;
  }
}

function tlsOptions(topology: RedisTopology, url: URL): ConnectionOptions | undefined {
  const settings = topology.tls;
  if (!settings && url.protocol !== 'rediss:') return undefined;
  return {
    ca: settings?.caFile ? readPem(settings.caFile, 'store.tls.ca_file') : undefined,
    cert: settings?.certFile ? readPem(settings.certFile, 'store.tls.cert_file') : undefined,
    key: settings?.keyFile ? readPem(settings.keyFile, 'store.tls.key_file') : undefined,
    servername: settings?.serverName,
    rejectUnauthorized: settings?.rejectUnauthorized ?? true,
  };
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new RiskgateError('RG_ERR_CONFIG_INVALID', `${key}: cannot read ${file}: ${reason}`);
  }
}

/** Read the credentials and database of a store URL, which config validation has already accepted. */
function storeUrlParts(value: string): StoreUrlParts {
  const result = readStoreUrl(value);
  if ('problem' in result) {
    throw new RiskgateError('RG_ERR_CONFIG_INVALID', `store.url "${hideUrlUserInfo(value)}" ${result.problem}`);
  }
  return result.parts;
}

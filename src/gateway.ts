import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';

import type { CryptoKey, KeyObject } from 'jose';
import type { Logger } from 'pino';

import { MANUAL_REFRESH_MS, ManualMatcher } from './admin/manual-match.js';
import { startAdminServer, type AdminServer } from './admin/server.js';
import { CLOCK_TOLERANCE_SECONDS, StepUpVerifier } from './challenge/step-up.js';
import { usesRedis } from './config/account-risk.js';
import { deviceCookieWarnings, outcomeWarnings, subpathWarnings } from './config/outcome-warnings.js';
import { plainHttpWarnings } from './config/plain-http.js';
import type { GatewayConfig } from './config/types.js';
import { GatewayKeys } from './crypto/keys.js';
import { RuleSetHolder, createDeviceCookies, routeKey, type GatewayContext } from './proxy/context.js';
import { abortInFlight, createUpstream } from './proxy/forward.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { RuleErrorLog } from './log/rule-error-log.js';
import { closeUpgradedConnections, createGatewayServer } from './proxy/server.js';
import { GeoResolver } from './geo/resolver.js';
import { AccountRisk } from './profile/account-risk.js';
import { describeBroadProxyRange, findBroadProxyRanges } from './request/broad-proxy-ranges.js';
import { TrustedProxies } from './request/client-ip.js';
import { normalizePath } from './request/path.js';
import { FileWatcher } from './reload/file-watcher.js';
import { RuleReloader, type ReloadResult, type ReloadTrigger } from './reload/reloader.js';
import { loadRuleSet, type RuleSet } from './rules/compile.js';
import { DataLossWatch } from './store/data-loss.js';
import { MemoryStore } from './store/memory.js';
import { RedisStore } from './store/redis.js';
import { ResilientStore } from './store/resilient.js';
import type { CounterStore } from './store/store.js';
import { hideUrlUserInfo } from './config/url-user-info.js';
import { WebhookSink } from './webhook/sink.js';

export interface StartOptions {
  logger: Logger;
  /** A rule set already loaded; otherwise the config's rule paths are loaded. */
  ruleSet?: RuleSet;
  /** Step-up verification key given in code (the demo's); otherwise read from config. */
  stepUpKey?: CryptoKey | KeyObject;
  clock?: () => number;
  /** Interval of the Redis data-loss check, 5 s by default. */
  dataLossCheckMs?: number;
  /** The error of the log destination's last failed write, while its writes fail. */
  logWriteFailure?: () => NodeJS.ErrnoException | undefined;
  /** Read the config file again on reload; without it a reload reads only the rule files and IP lists. */
  loadConfig?: () => GatewayConfig;
  /** Reload when a watched file changes, unless the config sets `reload.watch: false`. */
  watchFiles?: boolean;
}

export interface RunningGateway {
  url: string;
  server: http.Server;
  context: GatewayContext;
  /** The operator listener (health, metrics, admin API). */
  admin: AdminServer;
  /** Reload the rule files, IP lists and config; the last good rule set stays when they are invalid. */
  reload(trigger?: ReloadTrigger): ReloadResult;
  /**
   * Stop accepting, let requests in flight finish, and release the store and listeners.
   * With `abortAfterMs`, requests still waiting for the app then are ended as upstream
   * faults, so that their logins are logged before a shutdown deadline.
   */
  close(options?: { abortAfterMs?: number }): Promise<void>;
}

/** Open the counter store the config names. */
export function openStore(config: GatewayConfig): CounterStore {
  const store = config.store;
  if (!usesRedis(store)) {
    return new MemoryStore({ maxEntries: store.memoryMaxEntries });
  }
  return new RedisStore({
    // With Cluster or Sentinel nodes and no URL, the URL only stands for plain redis:// without credentials.
    url: store.url === 'memory' ? 'redis://localhost' : store.url,
    timeoutMs: store.timeoutMs,
    cluster: store.cluster,
    sentinels: store.sentinels,
    sentinelName: store.sentinelName,
    tls: store.tls,
  });
}

/** Values per feature in the global frequency tables behind `account.risk`. */
const GLOBAL_FREQUENCY_VALUES = 512;

/** How often each process merges its login frequency counts into the store. */
const FREQUENCY_SYNC_MS = 60_000;

/** Build the gateway's context from a validated config. */
export async function createContext(config: GatewayConfig, options: StartOptions): Promise<GatewayContext> {
  const clock = options.clock ?? Date.now;
  const keys = new GatewayKeys(config.secret);
  const ruleSet = options.ruleSet ?? loadRuleSet(config.rulePaths, { ipLists: config.ipLists });
  const routes = new Map(
    config.loginRoutes.map((route) => {
      const reading = normalizePath(route.path);
      if ('invalid' in reading) throw new Error(`login route path "${route.path}" is invalid: ${reading.invalid}`);
      return [routeKey(route.method, reading.path), route];
    }),
  );

  // Files that can be missing or invalid are read before the store connects, so a bad
  // file leaves no Redis connection open that would keep the process alive after the error.
  const stepUp = await StepUpVerifier.create(config.challenge, keys.challenge, {
    key: options.stepUpKey,
    clock,
    onKeyError: (error) => warnKeyUnavailable(options.logger, config.challenge.jwksUrl ?? '', error),
  });
  const geo = GeoResolver.open({ cityFile: config.geo.maxmindCity, asnFile: config.geo.maxmindAsn });

  const rules = new RuleSetHolder(ruleSet, config.mode, Date.now());
  const store = new ResilientStore(openStore(config), options.logger, config.store.memoryMaxEntries,
    `${config.store.keyPrefix}:s:{write-probe}`);
  const metrics = new GatewayMetrics({ storeInOutage: () => store.inOutage, ruleCount: () => rules.current.rules.length });
  store.observer = metrics;
  const dataLoss = store.primary instanceof RedisStore
    ? new DataLossWatch(store.primary, {
      prefix: config.store.keyPrefix,
      keys,
      logger: options.logger,
      clock,
      intervalMs: options.dataLossCheckMs,
      toleranceMs: CLOCK_TOLERANCE_SECONDS * 1000,
      onLoss: () => metrics.storeDataLosses.inc(),
    })
    : undefined;

  return {
    config,
    logger: options.logger,
    rules,
    store,
    keys,
    trustedProxies: new TrustedProxies(config.trustedProxies, config.nat64Prefixes),
    stepUp,
    deviceCookies: createDeviceCookies(config, keys, clock),
    upstream: createUpstream(config.upstream, config.upstreamTimeouts.connectMs, config.upstreamTimeouts.responseMs,
      config.upstreamTimeouts.sendMs),
    routes,
    clock,
    metrics,
    ruleErrors: new RuleErrorLog(options.logger, clock),
    hop: randomBytes(6).toString('hex'),
    unclassifiedRedirectRoutes: new Set(),
    htmlSuccessRoutes: new Set(),
    variantPathRoutes: new Set(),
    missingUsernameRoutes: new Set(),
    proxiesWithoutForwardedFor: new Set(),
    manual: new ManualMatcher(store, config.store.keyPrefix, options.logger),
    dataLoss,
    memoryStoreSince: dataLoss ? undefined : clock(),
    logWriteFailure: options.logWriteFailure ?? (() => undefined),
    geo,
    accountRisk: new AccountRisk({ ...config.profile, globalMaxValues: GLOBAL_FREQUENCY_VALUES, syncIntervalMs: FREQUENCY_SYNC_MS }, keys),
    webhook: config.webhook ? new WebhookSink(config.webhook, options.logger, metrics.registry) : undefined,
  };
}

/** Start the gateway on the configured address; resolves once it is listening. */
export async function startGateway(config: GatewayConfig, options: StartOptions): Promise<RunningGateway> {
  const context = await createContext(config, options);
  for (const broad of findBroadProxyRanges(config.trustedProxies)) {
    options.logger.warn({ riskgate: { trusted_proxy: broad.range } }, describeBroadProxyRange(broad));
  }
  const warnings = [...plainHttpWarnings(config), ...outcomeWarnings(config), ...deviceCookieWarnings(config), ...subpathWarnings(config)];
  for (const warning of warnings) {
    options.logger.warn(warning);
  }
  const server = createGatewayServer(context);

  // Without this wait, the logins that arrive while Redis is still connecting would each
  // count as a store failure and be judged by the memory fallback for a second. The data
  // loss watch writes the secret check value once Redis is ready, now or when it connects.
  const primary = context.store.primary;
  if (primary instanceof RedisStore) {
    if (!(await primary.waitUntilReady(Math.max(1000, config.store.timeoutMs * 4)))) {
      const last = primary.connectionErrors.last ?? 'no connection yet';
      // A server that rejects the credentials is reachable, so the fix is the password, not the network.
      const fields = { store: primary.kind, err: { message: last } };
      if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(last)) {
        options.logger.error(fields,
          'Redis refused the credentials in store.url or REDIS_URL at start; logins are judged as during a store ' +
            'outage until the user name and password are fixed and riskgate restarted');
      } else {
        options.logger.warn(fields, 'Redis is not reachable at start; logins are judged as during a store outage until it is');
      }
    } else {
      const database = await primary.selectedDatabase();
      if (database && database.actual !== database.wanted) {
        options.logger.error({ store: primary.kind, riskgate: { database } },
          `Redis has no database ${database.wanted}, so the connection uses database ${database.actual}, ` +
            'shared with whatever else is there: end store.url with a database the server has (0 to 15 by default)');
      }
    }
    await context.dataLoss?.start();
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    context.dataLoss?.stop();
    await context.store.close();
    const { host, port } = config.listen;
    throw new Error(`the gateway could not listen on ${host}:${port}: ${(error as Error).message}; ` +
      'set listen or RISKGATE_LISTEN to a free address');
  }

  let admin: AdminServer;
  try {
    admin = await startAdminServer(context);
  } catch (error) {
    server.close();
    context.dataLoss?.stop();
    await context.store.close();
    const { host: adminHost, port: adminPort } = config.admin.listen;
    throw new Error(`the admin listener could not listen on ${adminHost}:${adminPort}: ${(error as Error).message}; ` +
      'set admin.listen or RISKGATE_ADMIN_LISTEN to a free address');
  }

  context.accountRisk.startSync(context.store, config.store.keyPrefix, options.logger, context.clock);
  context.manual.startRefresh(MANUAL_REFRESH_MS, context.clock);
  const { reloader, watcher } = startReloading(context, options);

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    context,
    admin,
    reload: (trigger = 'call') => reloader.reload(trigger),
    close: async ({ abortAfterMs }: { abortAfterMs?: number } = {}) => {
      // /readyz answers 503 from here on, so load balancers drain this instance.
      admin.readiness.markStopping();
      const abortTimer = abortAfterMs === undefined ? undefined : setTimeout(() => {
        const ended = abortInFlight(context.upstream, 'the gateway stopped before the application responded');
        if (ended > 0) options.logger.warn({ riskgate: { requests: ended } }, 'shutdown ended requests still waiting for the application');
      }, abortAfterMs);
      abortTimer?.unref();
      watcher?.close();
      // A WebSocket tunnel would hold the server open until the shutdown deadline; its
      // client reconnects to another instance.
      closeUpgradedConnections(server);
      await new Promise<void>((resolve) => {
        // A keep-alive connection turns idle once its last response is sent; closing idle
        // ones every 100 ms ends them then instead of at the keep-alive timeout.
        const sweep = setInterval(() => {
          server.closeIdleConnections();
          closeUpgradedConnections(server);
        }, 100);
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      // Logins still write their outcome and decision line after the response is sent.
      await context.metrics.whenIdle();
      clearTimeout(abortTimer);
      await context.webhook?.close();
      context.upstream.agent.destroy();
      context.upstream.loginAgent.destroy();
      context.accountRisk.stopSync();
      context.manual.stopRefresh();
      context.dataLoss?.stop();
      await context.store.close();
      await admin.close();
    },
  };
}

/** Create the reloader, and the file watcher that drives it when watching is on. */
function startReloading(context: GatewayContext, options: StartOptions): { reloader: RuleReloader; watcher?: FileWatcher } {
  const { watch, debounceMs } = context.config.reload;
  let watcher: FileWatcher | undefined;
  const reloader = new RuleReloader(context, {
    loadConfig: options.loadConfig,
    onPaths: (paths) => watcher?.watch(paths),
  });
  if (options.watchFiles === true && watch) {
    watcher = new FileWatcher({ debounceMs, logger: context.logger, onChange: (changed) => reloader.reload('file', changed) });
    watcher.watch(reloader.watchPaths());
  }
  return { reloader, watcher };
}

/** Log that the JWKS URL cannot be fetched, so that step-ups failing as `key_unavailable` have a cause in the log. */
function warnKeyUnavailable(logger: Logger, jwksUrl: string, error: Error): void {
  // The URL's user info and query values may hold a token, and errors may quote the URL.
  const parsedUrl = new URL(jwksUrl).href;
  const redactedUrl = hideUrlUserInfo(parsedUrl);
  const hide = (text: string) => text.split(jwksUrl).join(redactedUrl).split(parsedUrl).join(redactedUrl);
  // fetch puts the network error, such as ECONNREFUSED, in the cause.
  const detail = hide(error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message);
  logger.warn(
    { event: { action: 'step-up-keys', outcome: 'failure' }, url: { full: redactedUrl }, err: { message: detail } },
    `step-up keys unavailable: fetching the JWKS at ${redactedUrl} failed (${detail}); ` +
      'step-up assertions are rejected as key_unavailable until it answers',
  );
}

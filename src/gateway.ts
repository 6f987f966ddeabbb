import type { AddressInfo } from 'node:net';
import type http from 'node:http';

import type { CryptoKey, KeyObject } from 'jose';
import type { Logger } from 'pino';

import { StepUpVerifier } from './challenge/step-up.js';
import type { GatewayConfig } from './config/types.js';
import { GatewayKeys } from './crypto/keys.js';
import { RuleSetHolder, createDeviceCookies, routeKey, type GatewayContext } from './proxy/context.js';
import { createUpstream } from './proxy/forward.js';
import { createGatewayServer } from './proxy/server.js';
import { TrustedProxies } from './request/client-ip.js';
import { normalizePath } from './request/path.js';
import { loadRuleSet, type RuleSet } from './rules/compile.js';
import { MemoryStore } from './store/memory.js';
import { RedisStore } from './store/redis.js';
import { ResilientStore } from './store/resilient.js';
import type { CounterStore } from './store/store.js';

export interface StartOptions {
  logger: Logger;
  /** A rule set already loaded; otherwise the config's rule paths are loaded. */
  ruleSet?: RuleSet;
  /** Step-up verification key given in code (the demo's); otherwise read from config. */
  stepUpKey?: CryptoKey | KeyObject;
  clock?: () => number;
}

export interface RunningGateway {
  url: string;
  server: http.Server;
  context: GatewayContext;
  close(): Promise<void>;
}

/** Open the counter store the config names. */
export function openStore(config: GatewayConfig): CounterStore {
  if (config.store.url === 'memory') {
    return new MemoryStore({ maxEntries: config.store.memoryMaxEntries });
  }
  return new RedisStore({ url: config.store.url, timeoutMs: config.store.timeoutMs });
}

/** Build the gateway's context from a validated config. */
export async function createContext(config: GatewayConfig, options: StartOptions): Promise<GatewayContext> {
  const clock = options.clock ?? Date.now;
  const keys = new GatewayKeys(config.secret);
  const ruleSet = options.ruleSet ?? loadRuleSet(config.rulePaths);
  const routes = new Map(
    config.loginRoutes.map((route) => {
      const reading = normalizePath(route.path);
      if ('invalid' in reading) throw new Error(`login route path "${route.path}" is invalid: ${reading.invalid}`);
      return [routeKey(route.method, reading.path), route];
    }),
  );

  return {
    config,
    logger: options.logger,
    rules: new RuleSetHolder(ruleSet),
    store: new ResilientStore(openStore(config), options.logger, config.store.memoryMaxEntries),
    keys,
    trustedProxies: new TrustedProxies(config.trustedProxies),
    stepUp: await StepUpVerifier.create(config.challenge, keys.challenge, { key: options.stepUpKey, clock }),
    deviceCookies: createDeviceCookies(config, keys, clock),
    upstream: createUpstream(config.upstream, config.upstreamTimeouts.connectMs, config.upstreamTimeouts.responseMs),
    routes,
    clock,
  };
}

/** Start the gateway on the configured address; resolves once it is listening. */
export async function startGateway(config: GatewayConfig, options: StartOptions): Promise<RunningGateway> {
  const context = await createContext(config, options);
  const server = createGatewayServer(context);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    context,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      context.upstream.agent.destroy();
      await context.store.close();
    },
  };
}

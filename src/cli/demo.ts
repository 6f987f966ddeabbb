import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { generateKeyPair, type CryptoKey } from 'jose';
import type { Logger } from 'pino';

import { CONFIG_DEFAULTS } from '../config/defaults.js';
import { loadConfigObject } from '../config/load.js';
import { DEMO_USERS, createDemoApp } from '../demo/app.js';
import { startGateway, type RunningGateway } from '../gateway.js';
import { createLogger } from '../log/logger.js';
import { SHUTDOWN_ABORT_MS, installSignalHandlers } from './lifecycle.js';
import { PACKAGE_ROOT, VERSION } from './version.js';

export const DEMO_HELP = `Usage: riskgate demo

Run the gateway on its embedded defaults (memory store, the rules in rules/) in front of
the bundled demo login app, both in this process. Prints the URL, the demo users and
curl lines to try. Edits to the files in rules/ are reloaded as they are saved.

Environment (as for start; the upstream is always the demo app):
  RISKGATE_LISTEN           host:port to listen on (default 127.0.0.1:8080)
  REDIS_URL                 use Redis instead of the memory store
  RISKGATE_TRUSTED_PROXIES  comma-separated CIDRs of trusted proxies
  RISKGATE_SECRET           secret to use (default: a random one per run)
  RISKGATE_LOG_LEVEL        log level: fatal, error, warn, info, debug, trace or silent (default info)
  RISKGATE_ADMIN_LISTEN     host:port of the health, metrics and admin listener (default 127.0.0.1:9090;
                            the demo takes a free port instead when that one is in use)
  RISKGATE_ADMIN_TOKEN      bearer token of the admin API, at least 32 characters (default: API off)
  RISKGATE_ADMIN_HOSTS      comma-separated names the admin listener answers in Host (default: none)
`;

const ISSUER = 'riskgate-demo-mfa';
const [DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT] = CONFIG_DEFAULTS.admin.listen.split(':');
const AUDIENCE = 'riskgate';

/** Run `riskgate demo`. */
export async function runDemo(): Promise<void> {
  const secret = process.env.RISKGATE_SECRET ?? randomBytes(32).toString('base64url');
  const keys = await generateKeyPair('ES256');

  const bootstrap = createLogger({ level: process.env.RISKGATE_LOG_LEVEL ?? 'info', destination: 'stdout' });
  const app = http.createServer(
    createDemoApp({
      users: [...DEMO_USERS],
      stepUp: { privateKey: keys.privateKey, algorithm: 'ES256', issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 120 },
      logger: bootstrap.logger.child({ service: { name: 'riskgate-demo-app' } }),
    }),
  );
  await new Promise<void>((done) => app.listen(0, '127.0.0.1', done));
  const appPort = (app.address() as AddressInfo).port;

  let gateway: RunningGateway;
  try {
    gateway = await startDemoGateway(appPort, secret, keys.publicKey, bootstrap.logger);
  } catch (error) {
    // The demo app already listens; closing it lets the process exit with the error.
    await new Promise<void>((done) => app.close(() => done()));
    throw error;
  }
  const config = gateway.context.config;
  bootstrap.logger.info(
    {
      service: { name: 'riskgate', version: VERSION },
      riskgate: { rule_set: gateway.context.rules.current.version, store: gateway.context.store.primary.kind },
      url: { full: gateway.url },
      admin: { url: gateway.admin.url, api: config.admin.token !== undefined },
      upstream: config.upstream.origin,
    },
    'riskgate demo started',
  );
  process.stdout.write(banner(gateway.url));

  installSignalHandlers(
    bootstrap,
    async () => {
      await gateway.close({ abortAfterMs: SHUTDOWN_ABORT_MS });
      await new Promise<void>((done) => app.close(() => done()));
    },
    () => gateway.reload('SIGHUP'),
  );
}

/** Start the gateway on the demo's embedded config in front of the demo app on `appPort`. */
async function startDemoGateway(appPort: number, secret: string, stepUpKey: CryptoKey, logger: Logger): Promise<RunningGateway> {
  const admin = await demoAdminListen(logger);
  const config = loadConfigObject(
    {
      upstream: `http://127.0.0.1:${appPort}`,
      store: { url: 'memory' },
      rules: [resolve(PACKAGE_ROOT, 'rules')],
      login_routes: [{ id: 'web', path: '/login' }],
      challenge: { mode: 'step-up', mfa_url: '/mfa', issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] },
      // The demo is served over plain HTTP, where browsers drop Secure cookies.
      device_cookie: { secure: false },
      ...(admin ? { admin: { listen: admin } } : {}),
    },
    PACKAGE_ROOT,
    { env: { ...process.env, RISKGATE_UPSTREAM: undefined }, secret },
  );
  return startGateway(config, { logger, stepUpKey, watchFiles: true });
}

/**
 * Give the demo a free admin port when the default one is taken, as by a first demo that a
 * second one, on another RISKGATE_LISTEN, runs beside. An address the user set must be free.
 */
async function demoAdminListen(logger: Logger): Promise<string | undefined> {
  if (process.env.RISKGATE_ADMIN_LISTEN) return undefined;

  if (await portIsFree(DEFAULT_ADMIN_HOST, Number(DEFAULT_ADMIN_PORT))) return undefined;

  logger.warn({ admin: { url: `http://${CONFIG_DEFAULTS.admin.listen}` } },
    'the default admin address is in use; the demo takes a free port for its admin listener');
  return `${DEFAULT_ADMIN_HOST}:0`;
}

function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = net.createServer();
    probe.once('error', () => done(false));
    probe.listen(port, host, () => probe.close(() => done(true)));
  });
}

function banner(url: string): string {
  const browser = `-A 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' -H 'Accept-Language: en'`;
  const users = DEMO_USERS.map((user) => `  ${user.username} / ${user.password}   TOTP secret ${user.totpSecret}`);
  return [
    '',
    `riskgate demo: gateway on ${url}, in front of the bundled login app`,
    '',
    'Demo users (public; for this demo only):',
    ...users,
    '',
    'Try it (a browser opening the URL gets the same login page):',
    '',
    '  # 1. a good login: forwarded to the app, 200',
    `  curl -i ${browser} -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' ${url}/login`,
    '',
    '  # 2. a wrong password: forwarded, the app answers 401',
    `  curl -i ${browser} -H 'Content-Type: application/json' -d '{"username":"alice","password":"guess"}' ${url}/login`,
    '',
    "  # 3. the MFA step-up: curl's own user agent scores as automation and is challenged (401",
    '  #    with a challenge id); the MFA page turns a TOTP code into an assertion, and the',
    '  #    repeated login carries it in the Riskgate-Step-Up header',
    `  CHALLENGE=$(curl -s -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' ${url}/login | node -pe 'JSON.parse(require("fs").readFileSync(0)).challenge.id') && CODE=$(curl -s '${url}/demo/code?username=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).code') && ASSERTION=$(curl -s -H 'Content-Type: application/json' -d "{\\"challenge\\":\\"$CHALLENGE\\",\\"username\\":\\"alice\\",\\"code\\":\\"$CODE\\"}" ${url}/mfa | node -pe 'JSON.parse(require("fs").readFileSync(0)).assertion') && curl -i -H "Riskgate-Step-Up: $ASSERTION" -H 'Content-Type: application/json' -d '{"username":"alice","password":"wonderland"}' ${url}/login`,
    '',
    'Decision log lines follow as JSON, one per login. Stop with Ctrl-C.',
    '',
    '',
  ].join('\n');
}

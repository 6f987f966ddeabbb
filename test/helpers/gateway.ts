import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { generateKeyPair, type CryptoKey, type KeyObject } from 'jose';

import { loadConfigObject } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log/logger.js';

export const PROJECT_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
export const DEFAULT_RULES = resolve(PROJECT_ROOT, 'rules');
export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const REDIS_URL = process.env.RISKGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A browser's headers, so default automation rules stay quiet unless a test wants them. */
export const BROWSER_HEADERS = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  accept: 'text/html,application/json',
  'accept-language': 'en-GB,en;q=0.8',
};

/** Log lines captured from the gateway's pino logger, parsed, plus the raw text. */
export class LogCapture extends Writable {
  readonly lines: Record<string, any>[] = [];
  text = '';

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    const text = chunk.toString('utf8');
    this.text += text;
    for (const line of text.split('\n')) {
      if (line.trim()) this.lines.push(JSON.parse(line));
    }
    callback();
  }

  get decisions(): Record<string, any>[] {
    return this.lines.filter((line) => line.message === 'login decision');
  }
}

export interface TestGateway extends RunningGateway {
  port: number;
  /** Port of the operator listener: /healthz, /readyz, /metrics and the admin API. */
  adminPort: number;
  /** Signing key of the test MFA service whose assertions this gateway accepts. */
  stepUpSigningKey?: CryptoKey | KeyObject;
  config: GatewayConfig;
  logs: LogCapture;
}

export interface TestGatewayOptions {
  upstream: string;
  /** `memory` (default) or `redis`; Redis tests get a key prefix of their own. */
  store?: 'memory' | 'redis';
  /** Raw config keys laid over the test defaults. */
  config?: Record<string, unknown>;
  stepUpKey?: CryptoKey | KeyObject;
  clock?: () => number;
  /** Interval of the data-loss check, for a test that must not see a periodic one. */
  dataLossCheckMs?: number;
  logLevel?: string;
}

/** Start a gateway in this process on a free loopback port, logging into a capture. */
export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const raw: Record<string, any> = {
    listen: '127.0.0.1:0',
    upstream: options.upstream,
    rules: [DEFAULT_RULES],
    store: { url: options.store === 'redis' ? REDIS_URL : 'memory', key_prefix: prefix, timeout: '200ms' },
    challenge: { mode: 'step-up', mfa_url: '/mfa', issuer: 'test-mfa', audience: 'riskgate', algorithms: ['ES256'] },
    log: { level: options.logLevel ?? 'info' },
    ...options.config,
    // Every test gateway gets its own free admin port, so several can run in one process.
    admin: { listen: '127.0.0.1:0', ...(options.config?.admin as Record<string, unknown> | undefined) },
  };
  const config = loadConfigObject(raw, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
  const logs = new LogCapture();
  const logger = createLogger(config.log, logs).logger;
  const pair = options.stepUpKey ? undefined : await generateKeyPair('ES256');
  const stepUpKey = options.stepUpKey ?? pair?.publicKey;
  const gateway = await startGateway(config, { logger, stepUpKey, clock: options.clock, dataLossCheckMs: options.dataLossCheckMs });
  const port = Number(new URL(gateway.url).port);
  const adminPort = Number(new URL(gateway.admin.url).port);
  return Object.assign(gateway, { port, adminPort, config, logs, stepUpSigningKey: pair?.privateKey });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): any;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Local source address, such as 127.0.0.2, to play distinct clients over loopback. */
  source?: string;
  /** Address of the gateway, 127.0.0.1 unless given (`::1` for one that listens there). */
  host?: string;
}

/** Send one request on a fresh connection and read the whole reply. */
export function send(port: number, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const request = http.request(
      {
        host: options.host ?? '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        localAddress: options.source,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolvePromise({ status: response.statusCode ?? 0, headers: response.headers, body, json: () => JSON.parse(body) });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** POST a JSON login with browser headers. */
export function login(
  port: number,
  username: string,
  password: string,
  options: Omit<SendOptions, 'body'> = {},
): Promise<Reply> {
  return send(port, {
    method: 'POST',
    path: '/login',
    ...options,
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ username, password }),
  });
}

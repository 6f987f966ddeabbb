import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { Ajv } from 'ajv';
import ipaddr from 'ipaddr.js';

import { RiskgateError, throwProblems, type SourceProblem } from '../errors.js';
import { checkAccountRiskValues, resolveAccountRiskConfig, resolveStoreTopology } from './account-risk.js';
import { applyAdminEnvironment, checkAdminValues, resolveAdminConfig } from './admin.js';
import { checkChallengeKey } from './challenge.js';
import { CONFIG_DEFAULTS, MIN_SECRET_LENGTH, deviceCookieName, stepUpCookieName } from './defaults.js';
import { checkLoginRouteOutcomes, resolveRoute } from './login-route.js';
import { parseDurationMs } from './duration.js';
import { checkReloadValues, resolveReloadConfig } from './reload.js';
import { CONFIG_SCHEMA } from './schema.js';
import { schemaPath, schemaProblem } from './schema-problem.js';
import type { GatewayConfig } from './types.js';
import { hideUrlUserInfo } from './url-user-info.js';
import { checkWebhookValues, resolveWebhookConfig } from './webhook.js';
import { readYamlSource, type YamlSource } from './yaml-source.js';
import { normalizePath } from '../request/path.js';
import { NAT64_PREFIX_LENGTHS } from '../request/embedded-ipv4.js';

type RawConfig = Record<string, any>;

const ajv = new Ajv({ allErrors: true, strict: true });
const validateSchema = ajv.compile(CONFIG_SCHEMA);

/** Environment variables that override a config key, and the key they override. */
const ENV_OVERRIDES: readonly (readonly [string, string])[] = [
  ['RISKGATE_LISTEN', 'listen'],
  ['RISKGATE_UPSTREAM', 'upstream'],
  ['REDIS_URL', 'store.url'],
  ['RISKGATE_LOG_LEVEL', 'log.level'],
  ['RISKGATE_TRUSTED_PROXIES', 'trusted_proxies'],
];

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** `start` requires RISKGATE_SECRET; the demo passes a generated one. */
  secret?: string;
}

/** Read, validate and freeze a config file; every problem is reported at once. */
export function loadConfigFile(file: string, options: LoadOptions = {}): GatewayConfig {
  if (!existsSync(file)) {
    throw new RiskgateError(
      'RG_ERR_CONFIG_NOT_FOUND',
      `config file not found: ${file}; pass --config FILE or set RISKGATE_CONFIG ` +
        '(riskgate.example.yaml is a commented starting point)',
    );
  }
  const source = readYamlSource(file);
  if (source.problems.length > 0) {
    throwProblems('RG_ERR_CONFIG_INVALID', source.problems);
  }
  const raw = source.value ?? {};
  return buildConfig(raw as RawConfig, source, dirname(resolve(file)), options, { keyInCode: false });
}

/**
 * Validate an in-memory config (the demo's embedded defaults) the same way as a file,
 * except that step-up mode needs no key source: its callers pass the key to startGateway.
 */
export function loadConfigObject(
  raw: RawConfig,
  baseDir: string,
  options: LoadOptions = {},
): GatewayConfig {
  const source = readYamlSource('<embedded>', JSON.stringify(raw));
  return buildConfig(raw, source, baseDir, options, { keyInCode: true });
}

function buildConfig(
  raw: RawConfig,
  source: YamlSource,
  baseDir: string,
  options: LoadOptions,
  stepUp: { keyInCode: boolean },
): GatewayConfig {
  const env = options.env ?? process.env;
  const problems: SourceProblem[] = [];

  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throwProblems('RG_ERR_CONFIG_INVALID', [
      source.problemAt([], 'the config must be a YAML mapping of keys such as listen and upstream'),
    ]);
  }

  if (!validateSchema(raw)) {
    for (const error of validateSchema.errors ?? []) {
      problems.push(schemaProblem(source, error, raw));
    }
  }

  const merged = applyEnvironment(raw, env);
  problems.push(...checkEnvironment(merged, source, env));
  problems.push(...checkValues(merged, source, env));
  problems.push(...checkLoginRouteOutcomes(merged, source));
  problems.push(...checkAdminValues(merged, source, env));
  problems.push(...checkAccountRiskValues(merged, source, env));
  if (!stepUp.keyInCode) problems.push(...checkChallengeKey(merged, source));
  problems.push(...checkReloadValues(merged, source));
  problems.push(...checkWebhookValues(merged, source, env));
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throwProblems('RG_ERR_CONFIG_INVALID', problems);
  }

  const secret = options.secret ?? env.RISKGATE_SECRET ?? '';
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new RiskgateError(
      'RG_ERR_SECRET_MISSING',
      `RISKGATE_SECRET is ${secret ? `too short (${secret.length} characters)` : 'not set'}; ` +
        `it keys pseudonyms, counter keys and signed cookies and needs at least ` +
        `${MIN_SECRET_LENGTH} characters: export RISKGATE_SECRET="$(openssl rand -base64 48)"`,
    );
  }

  return Object.freeze({ ...resolveConfig(merged, source.file, baseDir, secret), webhook: resolveWebhookConfig(merged, env) });
}

function applyEnvironment(raw: RawConfig, env: NodeJS.ProcessEnv): RawConfig {
  const merged: RawConfig = { ...raw, store: { ...(raw.store ?? {}) }, log: { ...(raw.log ?? {}) } };

  if (env.RISKGATE_LISTEN) merged.listen = env.RISKGATE_LISTEN;
  if (env.RISKGATE_UPSTREAM) merged.upstream = env.RISKGATE_UPSTREAM;
  if (env.REDIS_URL) merged.store.url = env.REDIS_URL;
  if (env.RISKGATE_LOG_LEVEL) merged.log.level = env.RISKGATE_LOG_LEVEL;
  applyAdminEnvironment(merged, env);
  if (env.RISKGATE_TRUSTED_PROXIES !== undefined) {
    merged.trusted_proxies = env.RISKGATE_TRUSTED_PROXIES.split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0);
  }
  return merged;
}

/**
 * Check the values that environment variables set with the same schema as the file, and
 * name the variable in each problem, since the file cannot show where the value came from.
 */
function checkEnvironment(merged: RawConfig, source: YamlSource, env: NodeJS.ProcessEnv): SourceProblem[] {
  const overridden = ENV_OVERRIDES.filter(([name]) => env[name] !== undefined);
  if (overridden.length === 0 || validateSchema(merged)) return [];

  const problems: SourceProblem[] = [];
  for (const error of validateSchema.errors ?? []) {
    const problem = schemaProblem(source, error);
    const key = schemaPath(error).join('.');
    const override = overridden.find(([, overriddenKey]) => key === overriddenKey || key.startsWith(`${overriddenKey}.`));
    if (override) {
      // The file's line for this key holds a value the variable replaced, so point at neither.
      problems.push({ file: 'environment', line: 0, column: 0, message: `${override[0]} "${hideUrlUserInfo(env[override[0]] ?? '')}" is invalid: ${problem.message}` });
    }
  }
  return problems;
}

/** Request headers that clients, proxies or riskgate send for their own purpose, so no step-up header may take their name. */
const RESERVED_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'host', 'connection', 'upgrade', 'te', 'trailer', 'transfer-encoding',
  'expect', 'forwarded', 'user-agent', 'accept', 'accept-language', 'accept-encoding', 'origin', 'referer',
  'x-request-id', 'x-real-ip', 'via', 'keep-alive',
]);

function checkValues(merged: RawConfig, source: YamlSource, env: NodeJS.ProcessEnv): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const origin = (name: string, key: string) => (env[name] !== undefined ? name : key);
  // A value from an environment variable has no place in the file to point at.
  const problemAt = (name: string, path: (string | number)[], message: string): SourceProblem =>
    env[name] !== undefined ? { file: 'environment', line: 0, column: 0, message } : source.problemAt(path, message);

  const cookie = merged.device_cookie ?? {};
  if (/^__(host|secure)-/i.test(String(cookie.name ?? '')) && cookie.secure === false) {
    problems.push(source.problemAt(['device_cookie', 'name'], `device_cookie.name "${cookie.name}" has a prefix that ` +
      'browsers accept only on a Secure cookie, but device_cookie.secure is false: set secure to true, or remove the prefix'));
  }
  const stepUpHeader = String(merged.challenge?.header ?? CONFIG_DEFAULTS.challenge.header).toLowerCase();
  if (RESERVED_HEADERS.has(stepUpHeader) || /^(sec-|x-forwarded-|content-|riskgate-(risk|via)$)/.test(stepUpHeader)) {
    problems.push(source.problemAt(['challenge', 'header'], `challenge.header "${merged.challenge?.header}" is a header that ` +
      'clients, proxies or riskgate itself send for another purpose; riskgate would read it as an assertion and strip it ' +
      'before the app: use a name of its own, such as Riskgate-Step-Up'));
  }
  const stepUpCookie = stepUpCookieName(merged.challenge?.cookie, cookie.secure ?? true);
  if (stepUpCookie === deviceCookieName(cookie.name, cookie.secure ?? true)) {
    problems.push(source.problemAt(['challenge', 'cookie'], `challenge.cookie "${stepUpCookie}" is also the device cookie's name, ` +
      'so every returning device would present its device cookie as a step-up assertion: give the two cookies different names'));
  }
  if (cookie.same_site === 'none' && cookie.secure === false) {
    problems.push(source.problemAt(['device_cookie', 'same_site'], 'device_cookie.same_site "none" needs a Secure cookie, ' +
      'since browsers drop a SameSite=None cookie without Secure, but device_cookie.secure is false: set secure to true, or same_site to lax'));
  }

  const port = Number(/:(\d+)$/.exec(String(merged.listen ?? ''))?.[1] ?? 0);
  if (port > 65_535) {
    problems.push(problemAt('RISKGATE_LISTEN', ['listen'], `${origin('RISKGATE_LISTEN', 'listen')} "${merged.listen}" ` +
      'has a port above 65535: use host:port such as 127.0.0.1:8080'));
  }

  // The schema already rejects values that do not start with http:// or https://.
  if (!merged.upstream) {
    problems.push(
      source.problemAt(['upstream'], 'upstream is missing: set it to the app URL, for example ' +
        'http://127.0.0.1:3000, or export RISKGATE_UPSTREAM'),
    );
  } else if (typeof merged.upstream === 'string' && /^https?:\/\//.test(merged.upstream) && !URL.canParse(merged.upstream)) {
    problems.push(problemAt('RISKGATE_UPSTREAM', ['upstream'], `${origin('RISKGATE_UPSTREAM', 'upstream')} "${hideUrlUserInfo(merged.upstream)}" ` +
      'is not a valid URL: use the app URL, for example http://127.0.0.1:3000'));
  } else if (typeof merged.upstream === 'string' && URL.canParse(merged.upstream)) {
    // Requests go to the app with the path the client sent, so a path here would be ignored.
    const url = new URL(merged.upstream);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      // A fragment may hold a token as a query does, so its text is hidden too.
      const maskedUrl = hideUrlUserInfo(merged.upstream).replace(/#.*$/s, '#***');
      problems.push(problemAt('RISKGATE_UPSTREAM', ['upstream'], `${origin('RISKGATE_UPSTREAM', 'upstream')} "${maskedUrl}" ` +
        'has a path, query or fragment, which riskgate would ignore, because requests keep the path the client sent: ' +
        `give the origin alone, such as ${url.origin}`));
    }
    if (url.username !== '' || url.password !== '') {
      problems.push(problemAt('RISKGATE_UPSTREAM', ['upstream'], `${origin('RISKGATE_UPSTREAM', 'upstream')} "${hideUrlUserInfo(merged.upstream)}" ` +
        'has a user name or password, which riskgate never sends to the app: the client\'s own Authorization ' +
        `header is passed on; give the origin alone, such as ${url.origin}`));
    }
  }

  const proxies: unknown[] = merged.trusted_proxies ?? [];
  proxies.forEach((entry, index) => {
    if (typeof entry !== 'string' || !isCidrOrAddress(entry)) {
      problems.push(
        problemAt('RISKGATE_TRUSTED_PROXIES', ['trusted_proxies', index], `${origin('RISKGATE_TRUSTED_PROXIES', 'trusted_proxies')} ` +
          `entry "${String(entry)}" is not an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32`),
      );
    }
  });

  if (merged.username?.scope === 'host' && !(Array.isArray(merged.username.hosts) && merged.username.hosts.length > 0)) {
    problems.push(source.problemAt(['username', 'scope'], 'username.scope is host, but username.hosts lists no host: ' +
      'list the host names the app serves tenants at, such as ["*.shop.example"], since a client can send any Host'));
  }

  const nat64: unknown[] = merged.nat64_prefixes ?? [];
  nat64.forEach((entry, index) => {
    const problem = typeof entry === 'string' ? nat64PrefixProblem(entry) : 'is not a string';
    if (problem) problems.push(source.problemAt(['nat64_prefixes', index], `nat64_prefixes entry "${String(entry)}" ${problem}`));
  });

  // Routes are compared as riskgate reads their paths, so /Login and /login, or /api/v1/login
  // and /api/1/login, are one route to it.
  const routes: RawConfig[] = merged.login_routes ?? [];
  const seen = new Map<string, string>();
  routes.forEach((route, index) => {
    const method = route.method ?? 'POST';
    const written = `${method} ${route.path}`;
    const reading = typeof route.path === 'string' ? normalizePath(route.path) : undefined;
    const read = reading !== undefined && 'path' in reading ? reading.path : route.path;
    const earlier = seen.get(`${method} ${read}`);
    if (earlier === written) {
      problems.push(source.problemAt(['login_routes', index], `login route "${written}" is listed twice`));
    } else if (earlier !== undefined) {
      problems.push(source.problemAt(['login_routes', index],
        `login route "${written}" reads as the same path as "${earlier}" (${read}), because riskgate reads ` +
          'case, trailing slashes and API version spellings as the app may; keep one entry for both'));
    }
    if (earlier === undefined) seen.set(`${method} ${read}`, written);
    if (route.any_path === true && (method !== 'POST' || route.body === 'json')) {
      problems.push(source.problemAt(['login_routes', index, 'any_path'], `login route "${written}" has any_path, which judges ` +
        'URL-encoded forms posted to other pages, as PHP apps that check a login on any page read them; ' +
        'it needs method POST and body form or auto'));
    }
  });

  return problems;
}

/** Read the `username` section, whose `host_header` key the code names hostHeader. */
function usernameConfig(raw: RawConfig): GatewayConfig['username'] {
  const { host_header: hostHeader, ...rest } = raw;
  return { ...rest, ...(hostHeader === undefined ? {} : { hostHeader }) } as GatewayConfig['username'];
}

/** Return what is wrong with a `nat64_prefixes` entry, or undefined when it is a NAT64 prefix. */
function nat64PrefixProblem(entry: string): string | undefined {
  let network: ipaddr.IPv6;
  let bits: number;
  try {
    const [address, length] = ipaddr.parseCIDR(entry);
    if (address.kind() !== 'ipv6') return 'is not an IPv6 prefix: give the prefix your NAT64 translator maps IPv4 clients into, such as 2001:db8:46::/96';
    [network, bits] = [address as ipaddr.IPv6, length];
  } catch {
    return 'is not a CIDR: give the prefix your NAT64 translator maps IPv4 clients into, such as 2001:db8:46::/96';
  }
  if (!NAT64_PREFIX_LENGTHS.includes(bits)) {
    return `has length /${bits}, but RFC 6052 prefixes are /${NAT64_PREFIX_LENGTHS.join(', /')}: give the translator's own length`;
  }
  if (ipaddr.IPv6.networkAddressFromCIDR(entry).toString() !== network.toString()) {
    return `has bits set past /${bits}: give the network address, ${ipaddr.IPv6.networkAddressFromCIDR(entry).toString()}/${bits}`;
  }
  return undefined;
}

function isCidrOrAddress(entry: string): boolean {
  if (entry.includes('/')) {
    try {
      ipaddr.parseCIDR(entry);
      return true;
    } catch {
      return false;
    }
  }
  return ipaddr.isValid(entry);
}

function resolveConfig(merged: RawConfig, file: string, baseDir: string, secret: string): GatewayConfig {
  const defaults = CONFIG_DEFAULTS;
  const listen = String(merged.listen ?? defaults.listen);
  const separator = listen.lastIndexOf(':');
  const host = listen.slice(0, separator).replace(/^\[|\]$/g, '');
  const store = { ...defaults.store, ...merged.store };
  const challenge = { ...defaults.challenge, ...merged.challenge };
  const block = { ...defaults.block, ...merged.block };
  const deviceCookie = { ...defaults.device_cookie, ...merged.device_cookie };
  const timeouts = { ...defaults.upstream_timeouts, ...merged.upstream_timeouts };
  const log = { ...defaults.log, ...merged.log };
  const routes: RawConfig[] = merged.login_routes ?? [{ path: '/login' }];
  const relative = (path: string | undefined) => (path ? resolve(baseDir, path) : undefined);

  return {
    source: file,
    listen: { host, port: Number(listen.slice(separator + 1)) },
    upstream: new URL(merged.upstream),
    trustedProxies: Object.freeze([...(merged.trusted_proxies ?? defaults.trusted_proxies)]),
    nat64Prefixes: Object.freeze([...(merged.nat64_prefixes ?? [])]),
    forwardedPrefix: merged.forwarded_prefix ?? defaults.forwarded_prefix,
    hosts: Object.freeze([...(merged.hosts ?? [])]),
    mode: merged.mode ?? defaults.mode,
    store: {
      url: store.url,
      keyPrefix: store.key_prefix,
      timeoutMs: parseDurationMs(store.timeout),
      memoryMaxEntries: store.memory_max_entries,
      ...resolveStoreTopology(store, baseDir),
    },
    loginRoutes: Object.freeze(routes.map((route, index) => resolveRoute(route, index))),
    username: usernameConfig({ ...defaults.username, ...merged.username }),
    rulePaths: Object.freeze((merged.rules ?? defaults.rules).map((path: string) => resolve(baseDir, path))),
    reload: resolveReloadConfig(merged),
    bodyLimitBytes: merged.body_limit_bytes ?? defaults.body_limit_bytes,
    challenge: {
      mode: challenge.mode,
      mfaUrl: challenge.mfa_url,
      header: challenge.header,
      cookie: stepUpCookieName(challenge.cookie, deviceCookie.secure),
      ttlMs: parseDurationMs(challenge.ttl),
      issuer: challenge.issuer,
      audience: challenge.audience,
      algorithms: Object.freeze([...challenge.algorithms]),
      publicKeyFile: relative(challenge.public_key_file),
      jwksFile: relative(challenge.jwks_file),
      jwksUrl: challenge.jwks_url,
    },
    block: { status: block.status, retryAfterMs: parseDurationMs(block.retry_after) },
    deviceCookie: {
      name: deviceCookieName(deviceCookie.name, deviceCookie.secure),
      maxAgeMs: parseDurationMs(deviceCookie.max_age),
      secure: deviceCookie.secure,
      sameSite: deviceCookie.same_site,
    },
    upstreamTimeouts: {
      connectMs: parseDurationMs(timeouts.connect),
      responseMs: parseDurationMs(timeouts.response),
      sendMs: parseDurationMs(timeouts.send),
    },
    log: { level: log.level, username: log.username, destination: log.destination },
    admin: resolveAdminConfig(merged),
    ...resolveAccountRiskConfig(merged, baseDir),
    secret,
  };
}

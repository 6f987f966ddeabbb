import type { SourceProblem } from '../errors.js';
import { CONFIG_DEFAULTS, MIN_ADMIN_TOKEN_LENGTH } from './defaults.js';
import type { GatewayConfig } from './types.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Lay RISKGATE_ADMIN_LISTEN, RISKGATE_ADMIN_TOKEN and RISKGATE_ADMIN_HOSTS over the file's `admin` keys. */
export function applyAdminEnvironment(merged: RawConfig, env: NodeJS.ProcessEnv): void {
  merged.admin = { ...(merged.admin ?? {}) };
  if (env.RISKGATE_ADMIN_LISTEN) merged.admin.listen = env.RISKGATE_ADMIN_LISTEN;
  if (env.RISKGATE_ADMIN_TOKEN) merged.admin.token = env.RISKGATE_ADMIN_TOKEN;
  if (env.RISKGATE_ADMIN_HOSTS) {
    merged.admin.hosts = env.RISKGATE_ADMIN_HOSTS.split(',').map((name) => name.trim()).filter((name) => name !== '');
  }
}

/**
 * Check the admin listener and token. The admin listener must never share the public
 * port, because health, metrics and the admin API would then be reachable by every client.
 */
export function checkAdminValues(merged: RawConfig, source: YamlSource, env: NodeJS.ProcessEnv = {}): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const admin: RawConfig = merged.admin ?? {};
  // A value from an environment variable has no place in the file to point at, so the problem names the variable.
  const problemAt = (name: string, key: 'listen' | 'token', message: string): SourceProblem =>
    env[name] !== undefined
      ? { file: 'environment', line: 0, column: 0, message: `${name}: ${message}` }
      : source.problemAt(['admin', key], message);

  if (admin.listen !== undefined && !HOST_PORT.test(String(admin.listen))) {
    problems.push(problemAt('RISKGATE_ADMIN_LISTEN', 'listen',
      `admin.listen "${admin.listen}" is not host:port, for example 127.0.0.1:9090`));
    return problems;
  }

  const publicAddress = splitHostPort(String(merged.listen ?? CONFIG_DEFAULTS.listen));
  const adminAddress = splitHostPort(String(admin.listen ?? CONFIG_DEFAULTS.admin.listen));
  const sameHost = publicAddress.host === adminAddress.host ||
    WILDCARD_HOSTS.has(publicAddress.host) || WILDCARD_HOSTS.has(adminAddress.host);
  if (publicAddress.port !== 0 && publicAddress.port === adminAddress.port && sameHost) {
    problems.push(problemAt('RISKGATE_ADMIN_LISTEN', 'listen',
      `admin.listen "${admin.listen ?? CONFIG_DEFAULTS.admin.listen}" uses the public port ` +
        `${publicAddress.port}; give the admin listener a port of its own, such as 127.0.0.1:9090`));
  }

  if (admin.token !== undefined && String(admin.token).length < MIN_ADMIN_TOKEN_LENGTH) {
    problems.push(problemAt('RISKGATE_ADMIN_TOKEN', 'token',
      `the admin token is too short (${String(admin.token).length} characters); it needs at least ` +
        `${MIN_ADMIN_TOKEN_LENGTH}: export RISKGATE_ADMIN_TOKEN="$(openssl rand -base64 48)"`));
  }
  // A request carries the token after "Bearer " in one header line, so it cannot hold a space or line break.
  const unsendable = admin.token === undefined ? undefined : /[^\x21-\x7e]/.exec(String(admin.token));
  if (unsendable) {
    problems.push(problemAt('RISKGATE_ADMIN_TOKEN', 'token',
      `the admin token contains ${JSON.stringify(unsendable[0])} at position ${unsendable.index + 1}, which no ` +
        'Authorization header can carry; use visible ASCII characters only: ' +
        'export RISKGATE_ADMIN_TOKEN="$(openssl rand -base64 48)"'));
  }
  return problems;
}

/** The `admin` part of the resolved config. */
export function resolveAdminConfig(merged: RawConfig): GatewayConfig['admin'] {
  const admin: RawConfig = merged.admin ?? {};
  const listen = splitHostPort(String(admin.listen ?? CONFIG_DEFAULTS.admin.listen));
  const hosts = ((admin.hosts ?? []) as string[]).map((name) => name.toLowerCase().replace(/(?<=.)\.$/, ''));
  return admin.token === undefined ? { listen, hosts } : { listen, token: String(admin.token), hosts };
}

function splitHostPort(text: string): { host: string; port: number } {
  const separator = text.lastIndexOf(':');
  return { host: text.slice(0, separator).replace(/^\[|\]$/g, ''), port: Number(text.slice(separator + 1)) };
}

import type { SourceProblem } from '../errors.js';
import { normalizePath } from '../request/path.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import type { LoginRoute } from './types.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

/** Methods whose requests carry no body that a login could put its username in. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/**
 * Check what the schema cannot in each login route. Its path must be one riskgate can
 * read, and its method one with a body. A status list needs an entry without `!`, and no
 * path may mean both outcomes. The login path cannot be a success location, because a
 * redirect there never counts as a success.
 */
export function checkLoginRouteOutcomes(merged: RawConfig, source: YamlSource): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const routes: unknown = merged.login_routes;
  if (!Array.isArray(routes)) return problems;

  routes.forEach((route: RawConfig, index) => {
    if (typeof route !== 'object' || route === null) return;
    if (typeof route.path === 'string' && route.path.startsWith('/')) {
      const reading = normalizePath(route.path);
      if ('invalid' in reading) {
        problems.push(source.problemAt(['login_routes', index, 'path'],
          `login_routes[${index}].path ${JSON.stringify(route.path)} is not a path riskgate can read: ${reading.invalid}; ` +
            'write the path the login form posts to, such as /login'));
      }
    }
    if (typeof route.method === 'string' && BODYLESS_METHODS.has(route.method)) {
      problems.push(source.problemAt(['login_routes', index, 'method'],
        `login_routes[${index}].method ${route.method} sends no body, and riskgate reads the username from the ` +
          'body; set the method the login form posts with, such as POST'));
    }
    for (const key of ['success_status', 'failure_status'] as const) {
      const entries = stringsOf(route[key]);
      if (entries.length > 0 && entries.every((entry) => entry.startsWith('!'))) {
        problems.push(source.problemAt(['login_routes', index, key],
          `login_routes[${index}].${key} ${JSON.stringify(entries)} lists only exclusions; ` +
            'add the codes or classes to count, such as 4xx, before the "!" entries'));
      }
    }

    for (const key of ['success_location', 'failure_location'] as const) {
      stringsOf(route[key]).forEach((path, entry) => {
        const reading = normalizePath(path);
        if ('invalid' in reading) {
          problems.push(source.problemAt(['login_routes', index, key, entry],
            `login_routes[${index}].${key} entry ${JSON.stringify(path)} is not a path riskgate can read: ${reading.invalid}; ` +
              'write the path the app redirects to, such as /home'));
        }
      });
    }

    const successPaths = stringsOf(route.success_location).map(normalizeLocation);
    const failurePaths = new Set(stringsOf(route.failure_location).map(normalizeLocation));
    const loginPath = typeof route.path === 'string' ? normalizeLocation(route.path) : undefined;
    successPaths.forEach((path, entry) => {
      if (path === loginPath) {
        problems.push(source.problemAt(['login_routes', index, 'success_location', entry],
          `login_routes[${index}].success_location names the login path ${path}, and a redirect to the ` +
            'login page never counts as a success; remove it, or list it under failure_location'));
      } else if (failurePaths.has(path)) {
        problems.push(source.problemAt(['login_routes', index, 'success_location', entry],
          `login_routes[${index}] lists ${path} under both success_location and failure_location; keep it in one`));
      }
    });
  });
  return problems;
}

export function resolveRoute(route: RawConfig, index: number): LoginRoute {
  const defaults = CONFIG_DEFAULTS.login_route;
  const method = route.method ?? defaults.method;
  return Object.freeze({
    id: route.id ?? `route-${index + 1}`,
    method,
    path: route.path,
    body: route.body ?? defaults.body,
    formCharset: route.form_charset ?? 'utf-8',
    usernameField: route.username_field ?? defaults.username_field,
    passwordField: route.password_field ?? 'password',
    requirePassword: route.require_password ?? true,
    successFields: Object.freeze({ ...(route.success_fields ?? {}) }),
    onStoreError: route.on_store_error ?? defaults.on_store_error,
    successStatus: route.success_status ?? defaults.success_status,
    successStatusDefault: route.success_status === undefined,
    failureStatus: route.failure_status ?? defaults.failure_status,
    successLocation: (route.success_location ?? []).map(normalizeLocation),
    failureLocation: (route.failure_location ?? []).map(normalizeLocation),
    subpaths: route.subpaths ?? 'judge',
    anyPath: route.any_path ?? false,
    suffixMatch: route.suffix_match ?? false,
    identifierFirst: route.identifier_first ?? false,
    crossSite: route.cross_site ?? 'refuse',
    corsOrigins: Object.freeze([...(route.cors_origins ?? [])]),
  });
}

function normalizeLocation(path: string): string {
  const reading = normalizePath(path, { apiVersions: false });
  return 'path' in reading ? reading.path : path;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

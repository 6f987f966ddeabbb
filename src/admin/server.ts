import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { GatewayContext } from '../proxy/context.js';
import { sendProblem } from '../proxy/forward.js';
import { routeApi, type ApiHandler } from './api.js';
import { AuditLog, loggableProblemDetail, type AuditRequest } from './audit.js';
import { AdminAuthenticator } from './auth.js';
import { Readiness } from './health.js';
import { adminHostAllowed, hostName } from './host-check.js';
import { AdminProblem, sendAdminProblem, sendJson } from './http.js';

export interface AdminServer {
  url: string;
  server: http.Server;
  readiness: Readiness;
  close(): Promise<void>;
}

/**
 * Start the operator listener on `admin.listen`: `/healthz` and `/readyz` for probes,
 * `/metrics` for Prometheus, and the admin API under `/v1/`, which needs the bearer token.
 * It is a server of its own, never the public one, so no client of the app can reach it
 * unless the operator exposes its address.
 */
export async function startAdminServer(context: GatewayContext): Promise<AdminServer> {
  const readiness = new Readiness(context);
  const authenticator = new AdminAuthenticator(context.config.admin.token, context.config.secret);
  const audit = new AuditLog(context.logger, context.clock);
  const listenName = hostName(context.config.admin.listen.host);
  const hosts = listenName === undefined ? context.config.admin.hosts : [...context.config.admin.hosts, listenName];

  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handleAdminRequest(context, { readiness, authenticator, audit, hosts }, request, response).catch((error: unknown) => {
      context.logger.error({ err: error }, 'admin request handling failed');
      sendProblem(response, 500, 'internal error', 'the admin listener failed to handle this request', true);
    });
  });

  const { host, port } = context.config.admin.listen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    server,
    readiness,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

interface AdminParts {
  readiness: Readiness;
  authenticator: AdminAuthenticator;
  audit: AuditLog;
  /** Host names served besides address literals and localhost. */
  hosts: readonly string[];
}

async function handleAdminRequest(
  context: GatewayContext,
  parts: AdminParts,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://admin.invalid');
  } catch {
    sendProblem(response, 400, 'invalid request target', 'the request target is not a path or URL; send a path such as /healthz');
    return;
  }
  const method = request.method ?? 'GET';
  const probe = method === 'GET' || method === 'HEAD';

  if (!adminHostAllowed(request.headers.host, parts.hosts)) {
    sendProblem(response, 421, 'host not served',
      'the admin listener serves address literals, localhost and the names in admin.hosts; ' +
        'call it by address, or add this name to admin.hosts (RISKGATE_ADMIN_HOSTS)', true);
    return;
  }

  if (url.pathname === '/healthz' && probe) {
    sendJson(response, 200, { status: 'ok' });
    return;
  }
  if (url.pathname === '/readyz' && probe) {
    const report = await parts.readiness.report();
    sendJson(response, report.httpStatus, report.body);
    return;
  }
  if (url.pathname === '/metrics' && probe) {
    const scrape = await context.metrics.scrape();
    response.writeHead(200, { 'content-type': scrape.contentType, 'content-length': Buffer.byteLength(scrape.body) });
    response.end(scrape.body);
    return;
  }
  if (url.pathname.startsWith('/v1/')) {
    await handleApiRequest(context, parts, request, response, url);
    return;
  }
  if (['/healthz', '/readyz', '/metrics'].includes(url.pathname)) {
    sendProblem(response, 405, 'method not allowed', `${url.pathname} answers GET and HEAD only`, false, {}, { allow: 'GET, HEAD' });
    return;
  }
  sendProblem(response, 404, 'not found',
    `the admin listener serves /healthz, /readyz, /metrics and the admin API under /v1/, not ${url.pathname.slice(0, 80)}`);
}

async function handleApiRequest(
  context: GatewayContext,
  parts: AdminParts,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const method = request.method ?? 'GET';
  const auditRequest: AuditRequest = {
    requestId: randomUUID(),
    sourceIp: request.socket.remoteAddress ?? '',
    method,
    path: url.pathname,
  };

  const check = parts.authenticator.check(request.headers.authorization);
  if (!check.ok) {
    rejectUnauthenticated(context, parts, auditRequest, response, check.reason);
    return;
  }

  let segments: string[];
  try {
    segments = url.pathname.slice('/v1/'.length).split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    sendProblem(response, 400, 'invalid request path', 'the path has an invalid percent-encoding');
    return;
  }
  const route = routeApi(method, segments);
  if (!route.handler) {
    if (route.allowed.length > 0) {
      sendProblem(response, 405, 'method not allowed', `${url.pathname} answers ${route.allowed.join(', ')}`, false, {},
        { allow: route.allowed.join(', ') });
    } else {
      sendProblem(response, 404, 'not found', `no admin API endpoint at ${url.pathname.slice(0, 80)}; see the operating guide`);
    }
    return;
  }

  await runHandler(context, parts, route.handler, auditRequest, request, response, url, segments, check.fingerprint);
}

async function runHandler(
  context: GatewayContext,
  parts: AdminParts,
  handler: ApiHandler,
  auditRequest: AuditRequest,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  segments: string[],
  actor: string,
): Promise<void> {
  const call = { request, response, segments, query: url.searchParams, actor, now: context.clock() };
  try {
    const note = await handler(context, call);
    parts.audit.action(auditRequest, { ...note, actor, outcome: 'success', status: response.statusCode });
    context.metrics.adminRequests.labels(note.action, 'success').inc();
  } catch (error) {
    const problem = error instanceof AdminProblem ? error : storeProblem(error);
    sendAdminProblem(response, problem);
    const action = `${request.method?.toLowerCase()}-${segments[0] ?? ''}`;
    parts.audit.action(auditRequest, {
      action,
      category: 'configuration',
      type: 'change',
      actor,
      outcome: 'failure',
      status: problem.status,
      details: { error: loggableProblemDetail(problem.detail) },
    });
    context.metrics.adminRequests.labels(action, problem.status >= 500 ? 'failed' : 'rejected').inc();
    if (problem.status >= 500) context.logger.error({ err: error }, 'admin action failed');
  }
}

function rejectUnauthenticated(
  context: GatewayContext,
  parts: AdminParts,
  auditRequest: AuditRequest,
  response: ServerResponse,
  reason: 'disabled' | 'missing' | 'invalid',
): void {
  if (reason === 'disabled') {
    sendProblem(response, 403, 'admin API disabled',
      'no admin token is configured, so the admin API is off; set admin.token or RISKGATE_ADMIN_TOKEN ' +
        '(at least 32 characters) and restart');
    return;
  }
  parts.audit.authenticationFailed(auditRequest, reason, 401);
  context.metrics.adminRequests.labels('authenticate', 'rejected').inc();
  const detail = reason === 'missing'
    ? 'send the admin token as Authorization: Bearer <token>'
    : 'the admin token is not valid';
  const challenge = reason === 'missing' ? 'Bearer realm="riskgate-admin"' : 'Bearer realm="riskgate-admin", error="invalid_token"';
  sendProblem(response, 401, 'authentication required', detail, false, {}, { 'www-authenticate': challenge });
}

function storeProblem(error: unknown): AdminProblem {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  if (code === 'RG_ERR_STORE_UNAVAILABLE' || code === 'RG_ERR_STORE_TIMEOUT') {
    return new AdminProblem(503, 'risk store unavailable', `the counter store did not answer: ${message}; retry shortly`,
      { 'retry-after': '5' });
  }
  return new AdminProblem(500, 'admin action failed', message.slice(0, 300));
}

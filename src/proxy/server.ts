import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { withoutCookie } from '../challenge/step-up-cookie.js';
import { checkHeaderCount, checkHost, checkTransferCoding } from '../request/framing.js';
import { cookieCarriesPassword, queryCarriesPassword, removePasswordCookies } from '../request/password-fields.js';
import { normalizePath, type PathReading } from '../request/path.js';
import { UnreadableRoute, pipeSeparatedPath, queryRoutedTargets, withRouteBases } from '../request/query-route.js';
import { parseAddress, resolveClientAddress } from '../request/client-ip.js';
import { formRouteCheck, routedLoginReading, uncheckableForm } from './body-route.js';
import type { GatewayContext } from './context.js';
import { fieldHeaderName, findLoginRoute, loginMethodsAt, loginPathIndex, type LocaleReading, type LoginPathIndex } from './context.js';
import { closingConnections, forwardRequest, sendProblem } from './forward.js';
import { elsewhereQueryField, elsewhereRoutes, judgeFormElsewhere, type ElsewhereRoutes } from './form-elsewhere.js';
import { forwardingLoop, upgradeRequestHeaders, upstreamRequestHeaders } from './headers.js';
import { RISK_HEADER, handleLogin } from './login.js';
import { isWebSocketKey, proxyWebSocket } from './websocket.js';

/** Most requests one connection may pipeline behind the one being handled. */
const MAX_PIPELINED = 32;

/**
 * Create the public HTTP server. Login routes are judged; everything else is streamed to
 * the upstream untouched, and WebSocket upgrades open a tunnel once the app completes the handshake.
 */
export function createGatewayServer(context: GatewayContext): http.Server {
  const server = http.createServer({
    // Node's strict parser rejects conflicting Content-Length and Transfer-Encoding,
    // duplicated Content-Length and obsolete line folding; never turn it lenient.
    insecureHTTPParser: false,
    // Node would reject an HTTP/1.1 request without Host with a bare 400 before any handler
    // runs. checkHost rejects it instead, with a problem body and a log line.
    requireHostHeader: false,
    requestTimeout: 30_000,
    headersTimeout: 15_000,
    keepAliveTimeout: 5_000,
  });
  // Node's count limit (2,000) hides fields from handlers but not from framing, so it is
  // off here: the header size limit bounds the count, and checkHeaderCount refuses extras.
  server.maxHeadersCount = 0;
  const loginPaths = loginPathIndex(context.routes);
  const elsewhere = elsewhereRoutes(context.routes.values());

  // Node reads the peer address from the kernel on first use and keeps it. A connection the
  // client resets before its request is handled has none to read later, so it is read here.
  server.on('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined) socket.destroy();
  });

  // The latest response on each connection, so that a parse error in the bytes after a
  // request gets no second response on a connection that already has one.
  const responses = new WeakMap<Duplex, ServerResponse>();

  // Requests waiting on each connection for the response before them.
  const waiting = new WeakMap<Duplex, number>();

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // Node parses a pipelined request while the one before it is still being handled. Its
    // handling waits until that response is finished, so that a refusal decided late (a
    // login body that fails to parse) can still close the connection before it.
    const socket = request.socket;
    // A request pipelined after a response that closes the connection gets no response and
    // no log line, so one connection cannot carry a flood of refused requests.
    if (closingConnections.has(socket)) {
      socket.destroySoon();
      return;
    }
    const previous = responses.get(socket);
    responses.set(socket, response);
    const queued = previous === undefined || previous.writableFinished || previous.destroyed ? 0 : (waiting.get(socket) ?? 0) + 1;
    // Each waiting request keeps memory, and one write of tiny requests can carry thousands.
    if (queued > MAX_PIPELINED && !socket.destroyed) {
      logRejection(context, request, randomUUID(), `more than ${MAX_PIPELINED} pipelined requests`);
      socket.destroy();
      return;
    }
    if (socket.destroyed) return;
    waiting.set(socket, queued);
    const start = (): void => {
      waiting.set(socket, Math.max(0, (waiting.get(socket) ?? 1) - 1));
      // The response before it may have closed the connection while this one waited.
      if (closingConnections.has(request.socket) || request.socket.destroyed) {
        request.socket.destroySoon();
        return;
      }
      const handled = handleRequest(context, loginPaths, elsewhere, request, response).catch((error: unknown) => {
        context.logger.error({ err: error }, 'request handling failed');
        sendProblem(response, 500, 'internal error', 'the gateway failed to handle this request', true);
      });
      context.metrics.trackRequest(handled);
    };
    if (previous === undefined || previous.writableFinished || previous.destroyed) start();
    else afterResponse(previous, start);
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // An error in the body of a request whose response is already sent belongs to that
    // request, so the connection closes with no second response and no second log line. A
    // body after `Transfer-Encoding: none`, rejected with 501 before Node's parser fails on
    // it, is one such. A response still being written would be cut by a second one, so then
    // the connection closes at once, as Node's own handler does.
    const current = responses.get(socket);
    if (current?.headersSent && current.writableFinished && !current.req.complete) {
      socket.end();
      closeAfterFlush(socket);
      return;
    }
    if (current?.headersSent && !current.writableFinished) {
      logClientError(context, error, socket);
      socket.destroy();
      return;
    }
    let status = 400;
    if (error.code === 'HPE_HEADER_OVERFLOW') status = 431;
    else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = 408;
    logClientError(context, error, socket);
    if (socket.writable) endWithProblem(socket, status, 'the request could not be parsed as strict HTTP/1.1');
    else socket.destroy();
  });

  // riskgate is a reverse proxy: a CONNECT tunnel would carry requests it never reads.
  server.on('connect', (request: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    logRejection(context, request, randomUUID(), 'CONNECT request');
    endWithProblem(socket, 405, 'riskgate is a reverse proxy and opens no CONNECT tunnel; send requests to the app through it',
      'allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n');
    closeAfterFlush(socket);
  });

  const upgraded = new Set<Duplex>();
  upgradedSockets.set(server, upgraded);
  const track = (socket: Duplex): void => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
  };
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node removes its own error listener from a socket it hands over for an upgrade, and
    // the tunnel adds one only once the app accepts. Without this, a client that resets the
    // connection first raises an error nothing handles, which stops the process.
    socket.on('error', () => socket.destroy());
    if (request.socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    track(socket);
    const requestId = randomUUID();
    const reading = readRequestPath(request.url ?? '/', loginPaths);
    const tooManyFields = checkHeaderCount(request);
    const rejection = tooManyFields?.title ?? checkHost(request)?.title ??
      (forwardingLoop(request, context.hop) ? 'forwarding loop' : undefined) ?? upgradeRejection(request, reading, loginPaths);
    if (rejection) {
      logRejection(context, request, requestId, rejection);
      const status = tooManyFields ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      closeAfterFlush(socket);
      return;
    }

    const client = resolveClientAddress(request.socket.remoteAddress, joined(request.headers['x-forwarded-for']), context.trustedProxies);
    const peer = parseAddress(request.socket.remoteAddress ?? '');
    const headers = upgradeRequestHeaders(request, {
      client,
      peerTrusted: peer !== undefined && context.trustedProxies.contains(peer),
      passPrefix: context.config.forwardedPrefix === 'pass',
      requestId,
      strip: new Set([RISK_HEADER, context.config.challenge.header.toLowerCase()]),
      hop: context.hop,
    });
    const cookie = withoutCookie(context.deviceCookies.withoutDeviceCookie(headers.cookie), context.config.challenge.cookie);
    if (cookie === undefined) delete headers.cookie;
    else headers.cookie = cookie;
    proxyWebSocket(request, socket, head, { upstream: context.upstream, headers, requestId, logger: context.logger, track, closeAfterFlush });
  });

  return server;
}

async function handleRequest(
  context: GatewayContext,
  loginPaths: LoginPathIndex,
  elsewhere: ElsewhereRoutes | undefined,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  // Without a peer address there is no client to judge or to name to the app.
  if (request.socket.remoteAddress === undefined) {
    request.socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const method = request.method ?? 'GET';
  const reading = readRequestPath(request.url ?? '/', loginPaths);
  // True for a request to a login path by another method, or to a path riskgate cannot read.
  let nearLogin = false;

  const framing = checkHeaderCount(request) ?? checkTransferCoding(request) ?? checkHost(request);
  if (framing) {
    logRejection(context, request, requestId, framing.title);
    sendProblem(response, framing.status, framing.title, framing.detail, true);
    return;
  }
  const loop = forwardingLoop(request, context.hop);
  if (loop) {
    logRejection(context, request, requestId, 'forwarding loop');
    sendProblem(response, 508, 'forwarding loop', `${loop}; point upstream at the app, not at riskgate`, true);
    return;
  }

  if ('invalid' in reading) {
    // An app may route such a path to its login handler, by any method, so neither a login
    // method, nor a body, nor a query password may pass unjudged. No request target may
    // carry a fragment.
    const loginMethod = loginPaths.methods.has(method);
    if (loginMethod || carriesBody(request) || request.url?.includes('#') || queryCarriesPassword(request.url, loginPaths.passwordFields)) {
      logRejection(context, request, requestId, 'invalid request path');
      sendProblem(response, 400, 'invalid request path', reading.invalid, true);
      return;
    }
    nearLogin = true;
  } else if (encodedQueryAtLoginPath(request.url ?? '/', loginPaths)) {
    // Apps that decode a path before they cut off its query read `/login%3Fpassword=x` as a
    // login with a query, which riskgate cannot read the same way, by any method.
    logRejection(context, request, requestId, 'encoded query mark on a login path');
    sendProblem(response, 400, 'invalid request path',
      'the path has a percent-encoded "?" or "#" after a login path, which apps that decode the path first read as a query; send it unencoded',
      true);
    return;
  } else {
    const route = findLoginRoute(context.routes, method, reading.path);
    if (route) {
      await handleLogin(context, route, request, response, requestId);
      return;
    }

    // Some apps accept a login by any method on its path (Express app.all, Rails match), so
    // a body sent there by another method could carry credentials riskgate never judged.
    // PHP's $_REQUEST and Spring's @RequestParam read credentials from a GET query the same
    // way. A query with a username alone, as a login page link may carry, passes.
    const methods = loginMethodsAt(loginPaths, reading.path);
    let carried: 'body' | 'query' | undefined;
    if (methods && carriesBody(request)) carried = 'body';
    else if (methods && queryCarriesPassword(request.url, loginPaths.passwordFields)) carried = 'query';
    if (methods && carried) {
      logRejection(context, request, requestId, `${carried} on a login path by another method`);
      sendProblem(response, 405, 'method not allowed', `send logins to this path with ${methods.join(' or ')}`,
        true, {}, { allow: methods.join(', ') });
      return;
    }
    nearLogin = methods !== undefined;

    const field = elsewhere === undefined ? undefined : elsewhereQueryField(request.url, elsewhere);
    if (elsewhere && field !== undefined) {
      logRejection(context, request, requestId, 'login query on another page');
      sendProblem(response, 400, 'login query on another page',
        `the query sends the field "${field}", which the app reads as the password of login route ` +
          `${elsewhere.watched.routes.join(', ')} on any page; send logins by POST in a form`, true);
      return;
    }
  }

  const client = resolveClientAddress(request.socket.remoteAddress, joined(request.headers['x-forwarded-for']), context.trustedProxies);
  const peer = parseAddress(request.socket.remoteAddress ?? '');
  const peerTrusted = peer !== undefined && context.trustedProxies.contains(peer);
  const headers = upstreamRequestHeaders(request, {
    client,
    peerTrusted,
    passPrefix: context.config.forwardedPrefix === 'pass',
    requestId,
    strip: new Set([RISK_HEADER, context.config.challenge.header.toLowerCase()]),
    hop: context.hop,
  });
  // An app that leaves a body unread, as Python's http.server does for a GET, parses it
  // as the next request on the connection. Closing the connection after such a request
  // keeps a body from carrying a request riskgate never judged.
  if (carriesBody(request)) headers.connection = 'close';
  // Spring MVC 6.2 binds headers to a form's fields, with the dashes of their names removed,
  // so a GET to a login path with Username and Password headers is a login there.
  if (nearLogin) {
    for (const name of Object.keys(headers)) {
      if (loginPaths.fieldHeaderNames.has(fieldHeaderName(name))) delete headers[name];
    }
  }
  // PHP's $_REQUEST and ASP.NET's Request[] read cookies as request parameters, so a GET to a
  // login path (or to a path riskgate cannot read) with a username in its query and a password
  // cookie is a login there. A sibling subdomain can plant such a cookie, so it is removed
  // rather than the page refused.
  let cookie = headers.cookie === undefined ? undefined : String(headers.cookie);
  if (nearLogin && cookie !== undefined && cookieCarriesPassword(cookie, loginPaths.passwordFields)) {
    cookie = removePasswordCookies(cookie, loginPaths.passwordFields);
  }
  // The step-up cookie, set for the whole site, carries an assertion that the app needs no copy of.
  cookie = withoutCookie(context.deviceCookies.withoutDeviceCookie(cookie), context.config.challenge.cookie);
  if (cookie === undefined) delete headers.cookie;
  else headers.cookie = cookie;
  const uncheckable = carriesBody(request) ? uncheckableForm(request) : undefined;
  if (uncheckable) {
    logRejection(context, request, requestId, 'uncheckable body');
    sendProblem(response, 400, 'uncheckable body', uncheckable, true);
    return;
  }
  // The app checks some login on any page, so a form here may be one.
  if (elsewhere && carriesBody(request) &&
    await judgeFormElsewhere(context, elsewhere, loginPaths, request, response, requestId, headers,
      (reason) => logRejection(context, request, requestId, reason))) {
    return;
  }
  const bodyCheck = carriesBody(request) ? formRouteCheck(request, loginPaths, elsewhere?.watched) : undefined;
  const result = await forwardRequest(context.upstream, request, response, { headers, bodyCheck });
  if (result.error?.kind === 'rejected') {
    logRejection(context, request, requestId, result.error.message);
  } else if (result.error && result.error.kind !== 'reset' && result.error.kind !== 'aborted') {
    context.logger.error(
      { upstream: context.upstream.url.origin, http: { request: { id: requestId } }, err: { message: result.error.message } },
      'upstream request failed',
    );
  }
}

/** Call next once a response is finished or its connection is gone, whichever comes first. */
function afterResponse(response: ServerResponse, next: () => void): void {
  let called = false;
  const once = (): void => {
    if (called) return;
    called = true;
    next();
  };
  response.once('finish', once);
  response.once('close', once);
}

/** Sockets of upgrades and open tunnels, both ends, by server, so a shutdown can close tunnels that would keep it open. */
const upgradedSockets = new WeakMap<http.Server, Set<Duplex>>();

/** Destroy the upgrade and WebSocket connections of a gateway server that is shutting down. */
export function closeUpgradedConnections(server: http.Server): void {
  for (const socket of upgradedSockets.get(server) ?? []) socket.destroy();
}

/** Destroy a socket once what was written to it is flushed, or after 5 s if the client never reads it. */
function closeAfterFlush(socket: Duplex): void {
  const timer = setTimeout(() => socket.destroy(), 5000);
  timer.unref();
  socket.once('finish', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  if (socket.writableFinished) socket.destroy();
}

/** Log a request that Node's parser refused, unless the client only reset the connection. */
function logClientError(context: GatewayContext, error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET') return;
  const peer = (socket as Partial<Socket>).remoteAddress;
  context.logger.warn({ source: { ip: peer }, err: { code: error.code, message: error.message } }, 'malformed request rejected');
}

/**
 * Log a refused request with its client address, read as for a login, so an operator can
 * tell who sends such requests. Many are hidden logins (a password in a GET, a login path
 * in a form body). Each refusal also closes its connection, so that a client cannot send
 * thousands of small refused requests on one connection, each with a log line, past a load
 * balancer that limits connections.
 */
function logRejection(context: GatewayContext, request: IncomingMessage, requestId: string, rejection: string): void {
  const client = resolveClientAddress(request.socket.remoteAddress, joined(request.headers['x-forwarded-for']), context.trustedProxies);
  context.logger.warn(
    { source: { ip: client.address }, http: { request: { id: requestId, method: request.method } }, riskgate: { rejection } },
    'malformed request rejected',
  );
}

/** Write a problem response straight to a socket that no ServerResponse serves, and end it. */
function endWithProblem(socket: Duplex, status: number, detail: string, extraHeaders = ''): void {
  const title = http.STATUS_CODES[status] ?? 'error';
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  socket.end(`HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\n${extraHeaders}` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** Return why an upgrade request is rejected, or undefined when it may be proxied. */
function upgradeRejection(request: IncomingMessage, reading: PathReading, loginPaths: LoginPathIndex): string | undefined {
  const url = request.url ?? '/';
  // riskgate judges no login inside an upgraded connection, so none may open on a login path.
  if ('invalid' in reading || loginMethodsAt(loginPaths, reading.path) || encodedQueryAtLoginPath(url, loginPaths)) {
    return 'upgrade on a login path';
  }
  // Only a WebSocket tunnel carries frames the app cannot read as requests. An h2c upgrade
  // would open HTTP/2 to the app, and logins sent over it would pass unjudged.
  if ((request.headers.upgrade ?? '').trim().toLowerCase() !== 'websocket') {
    return 'upgrade to a protocol other than WebSocket';
  }
  if (request.headers['sec-websocket-version'] !== '13' || !isWebSocketKey(request.headers['sec-websocket-key'])) {
    return 'websocket upgrade without Sec-WebSocket-Version 13 and a valid Sec-WebSocket-Key';
  }
  return undefined;
}

/**
 * Read a request target's path for route matching. When the path reaches no login path but
 * a query-routed reading of it does (`/?/login`, `?q=user/login`, see queryRoutedTargets),
 * that reading is the path, so the login is judged as the app will route it. A query-routed
 * reading that riskgate cannot read (`/?/../login`, `/?/x/../login`) makes the path
 * unreadable when it reaches a login path once its dot segments are dropped or resolved.
 */
function readRequestPath(url: string, loginPaths: LoginPathIndex): PathReading {
  const reading = normalizePath(url);
  if ('invalid' in reading) return reading;

  // The piped and query-routed readings are made once, when the path alone reaches no login.
  let piped: PathReading | undefined | null = null;
  let targets: string[] | undefined;
  const routedPath = (locale: LocaleReading): PathReading | undefined => {
    if (loginMethodsAt(loginPaths, reading.path, locale)) return reading;

    if (piped === null) {
      const pipedPath = pipeSeparatedPath(url);
      piped = pipedPath === undefined ? undefined : normalizePath(pipedPath);
    }
    if (piped && 'path' in piped && loginMethodsAt(loginPaths, piped.path, locale)) return piped;

    try {
      targets ??= withRouteBases(url, queryRoutedTargets(url, loginPaths.restPaths));
    } catch (error) {
      if (error instanceof UnreadableRoute) return { invalid: error.message };
      throw error;
    }
    const routed = routedLoginReading(targets, loginPaths, locale);
    if (routed === undefined) return undefined;
    return 'path' in routed ? routed : { invalid: `the query names a login path that PHP routers read from it (${routed.invalid})` };
  };

  // A reading through a locale segment comes after every other (see LocaleReading).
  return routedPath('never') ?? routedPath('only') ?? reading;
}

/**
 * Return whether a request target's path has a percent-encoded `?` or `#` whose part before
 * reaches a login path, read as login paths are read (`/login%20%3Fx` and `/login;%3Fx` too).
 * The mark read as a query's start counts too, since PHP routers read a path from the query
 * (`/index.php%3F/login`, `/%3Fq=login`).
 */
function encodedQueryAtLoginPath(url: string, loginPaths: LoginPathIndex): boolean {
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  const mark = path.search(/%(?:3f|23)/i);
  if (mark === -1) return false;
  const before = normalizePath(path.slice(0, mark));
  if ('path' in before && loginMethodsAt(loginPaths, before.path) !== undefined) return true;

  const query = end === -1 ? '' : `&${url.slice(end + 1)}`;
  const decodedFirst = readRequestPath(`${path.slice(0, mark)}?${path.slice(mark + 3)}${query}`, loginPaths);
  return 'invalid' in decodedFirst || loginMethodsAt(loginPaths, decodedFirst.path) !== undefined;
}

function carriesBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

import type { Logger } from 'pino';

import type { UpstreamTarget } from './forward.js';
import { downstreamResponseHeaders } from './headers.js';

/** The GUID that RFC 6455 section 1.3 appends to a key before hashing it. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Base64 of 16 bytes: 21 free characters, then one whose low four bits are zero, then `==`. */
const KEY_PATTERN = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

export interface TunnelOptions {
  upstream: UpstreamTarget;
  /** The upgrade's request headers as riskgate rewrote them. */
  headers: OutgoingHttpHeaders;
  requestId: string;
  logger: Logger;
  /** Called with the app's socket of an open tunnel, so that a shutdown can close it. */
  track: (appSocket: Duplex) => void;
  /** Destroy the client's socket once a rejection written to it is flushed. */
  closeAfterFlush: (socket: Duplex) => void;
}

/** Return whether a `Sec-WebSocket-Key` value is the base64 of 16 bytes, as RFC 6455 requires. */
export function isWebSocketKey(value: string | undefined): boolean {
  return value !== undefined && KEY_PATTERN.test(value);
}

/** Compute the `Sec-WebSocket-Accept` value for a key (RFC 6455 section 4.2.2). */
export function websocketAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/**
 * Proxy one WebSocket upgrade to the app. riskgate sends the app a key of its own and opens
 * the tunnel only when the app's response completes the handshake for that key. Otherwise an app
 * endpoint that echoes a status (`/status?code=101`) could produce a 101 without switching
 * protocols, and every request the client then sent through the tunnel, logins included,
 * would reach the app as plain HTTP that riskgate never judged. Any other response is relayed
 * as a plain response, and the connection closes after it.
 */
export function proxyWebSocket(request: IncomingMessage, socket: Duplex, head: Buffer, options: TunnelOptions): void {
  const { upstream, logger, requestId } = options;
  const clientKey = String(request.headers['sec-websocket-key']);
  const appKey = randomBytes(16).toString('base64');
  const transport = upstream.url.protocol === 'https:' ? https : http;

  const appRequest = transport.request({
    protocol: upstream.url.protocol,
    hostname: upstream.url.hostname,
    port: upstream.url.port,
    method: request.method,
    path: request.url,
    headers: { ...options.headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': appKey },
    agent: false,
    setHost: false,
  });

  let answered = false;
  const reject = (status: 502 | 504, detail: string): void => {
    answered = true;
    const body = JSON.stringify({ type: 'about:blank', title: http.STATUS_CODES[status], status, detail });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    options.closeAfterFlush(socket);
  };

  const timer = setTimeout(() => {
    logger.error({ upstream: upstream.url.origin, http: { request: { id: requestId } } }, 'websocket upgrade timed out');
    appRequest.destroy();
    reject(504, 'the app did not answer the WebSocket upgrade in time');
  }, upstream.connectMs + upstream.responseMs);
  timer.unref();

  // When the client leaves before the app responds, the request to the app is cancelled.
  socket.once('close', () => {
    clearTimeout(timer);
    if (!answered) appRequest.destroy();
  });

  appRequest.on('error', (error) => {
    clearTimeout(timer);
    if (answered) return;
    logger.error(
      { upstream: upstream.url.origin, http: { request: { id: requestId } }, err: { message: error.message } },
      'websocket proxying failed',
    );
    reject(502, 'the app could not be reached');
  });

  const rejectSwitch = (status: number | undefined) => {
    logger.warn(
      { upstream: upstream.url.origin, http: { request: { id: requestId }, response: { status_code: status } } },
      'websocket upgrade refused: the app answered 101 without a WebSocket handshake',
    );
    reject(502, 'the app switched protocols without a WebSocket handshake');
  };

  appRequest.on('response', (appResponse: IncomingMessage) => {
    clearTimeout(timer);
    // Node raises `response`, not `upgrade`, for a 101 without `Connection: upgrade`.
    if (appResponse.statusCode === 101) {
      appResponse.destroy();
      rejectSwitch(appResponse.statusCode);
      return;
    }
    answered = true;
    // The app refused the upgrade. Its body arrives de-chunked, so it is relayed without
    // Transfer-Encoding and ends where the connection closes.
    const headers = downstreamResponseHeaders(appResponse.rawHeaders, appResponse.headers.connection);
    const lines = [`HTTP/1.1 ${appResponse.statusCode} ${appResponse.statusMessage}`];
    for (let index = 0; index < headers.length; index += 2) lines.push(`${headers[index]}: ${headers[index + 1]}`);
    lines.push('connection: close', '', '');
    socket.write(lines.join('\r\n'));
    appResponse.pipe(socket, { end: false });
    appResponse.once('end', () => {
      socket.end();
      options.closeAfterFlush(socket);
    });
    appResponse.once('error', () => socket.destroy());
  });

  appRequest.on('upgrade', (appResponse: IncomingMessage, appSocket: Duplex, appHead: Buffer) => {
    clearTimeout(timer);
    options.track(appSocket);
    appSocket.on('error', () => appSocket.destroy());

    if (!completesHandshake(appResponse, appKey)) {
      appSocket.destroy();
      rejectSwitch(appResponse.statusCode);
      return;
    }

    answered = true;
    if (socket.destroyed) {
      appSocket.destroy();
      return;
    }
    socket.write(switchingProtocolsHead(appResponse.rawHeaders, websocketAccept(clientKey)));
    if (appHead.length > 0) socket.write(appHead);
    if (head.length > 0) appSocket.write(head);
    appSocket.pipe(socket);
    socket.pipe(appSocket);
    appSocket.once('close', () => socket.destroy());
    socket.once('close', () => appSocket.destroy());
  });

  appRequest.end();
}

/** Return whether an app's 101 completes the WebSocket handshake for riskgate's key. */
function completesHandshake(response: IncomingMessage, key: string): boolean {
  const upgrade = String(response.headers.upgrade ?? '').trim().toLowerCase();
  const connection = String(response.headers.connection ?? '').toLowerCase().split(',').map((token) => token.trim());
  return upgrade === 'websocket' && connection.includes('upgrade') && response.headers['sec-websocket-accept'] === websocketAccept(key);
}

/** Build the 101 head sent to the client: the app's headers, with the accept value for the client's key. */
function switchingProtocolsHead(rawHeaders: readonly string[], accept: string): string {
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index].toLowerCase() === 'sec-websocket-accept') continue;
    lines.push(`${rawHeaders[index]}: ${rawHeaders[index + 1]}`);
  }
  lines.push(`Sec-WebSocket-Accept: ${accept}`, '', '');
  return lines.join('\r\n');
}

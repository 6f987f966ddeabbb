import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';

import { downstreamResponseHeaders } from './headers.js';

export interface UpstreamTarget {
  url: URL;
  /** The connection pool of requests riskgate passes through. */
  agent: http.Agent;
  /**
   * The connection pool of logins. Each passed-through request that a client keeps open (a
   * slow upload, a download it never reads) keeps an upstream connection, so a shared pool
   * would let a few hundred of them make every login wait. Its connections are never reused,
   * because an app that responds to a login before reading the body (a 415 or a CSRF check
   * first) reads the body as the next request on a kept connection. A body could then carry
   * an unjudged login and shift the responses of later logins to other clients.
   */
  loginAgent: http.Agent;
  connectMs: number;
  responseMs: number;
  /** Maximum wait for a passed-through request's client to read more of its response. */
  sendMs: number;
  /** A function per request in flight to the app that ends it as an upstream fault with a message. */
  inFlight: Set<(message: string) => void>;
}

export interface ForwardResult {
  /** Upstream status code, when it answered. */
  status?: number;
  /** The upstream response's Location header, when it sent one. */
  location?: string;
  /** The upstream response's Content-Type, when it sent one. */
  contentType?: string;
  /**
   * The failure, with detail: `connect`, `timeout` or `reset` reaching the upstream,
   * `invalid` for a response riskgate does not relay, or `aborted` when the client closed
   * its connection first.
   */
  /** `rejected`: the body check rejected the body, which the app did not get whole. */
  error?: { kind: UpstreamFailure | 'aborted' | 'rejected'; message: string };
  upstreamMs: number;
}

/** A failure to reach the app or to relay its response. */
type UpstreamFailure = 'connect' | 'timeout' | 'reset' | 'invalid';

const FAILURE_TITLES: Record<Exclude<UpstreamFailure, 'invalid'>, string> = {
  connect: 'upstream unavailable',
  timeout: 'upstream timed out',
  reset: 'upstream unavailable',
};

export interface ForwardOptions {
  headers: OutgoingHttpHeaders;
  /** The buffered body of a login, sent through the login pool; when absent, the client request is streamed through. */
  body?: Buffer;
  /** Extra response headers (flat name, value list), added once the status and Location are known. */
  extraResponseHeaders?: (status: number, location: string | undefined, contentType: string | undefined) => Promise<string[]> | string[];
  /**
   * Called once the app's whole response has been relayed and before the client's response
   * ends, so that what it records is written before the client can see the last byte.
   */
  beforeEnd?: (result: ForwardResult) => void;
  /** A check of a streamed body, which holds back the body's last byte until the check has read it all. */
  bodyCheck?: BodyCheck;
}

/** A check that reads a streamed body chunk by chunk. */
export interface BodyCheck {
  write(chunk: Buffer): void;
  /**
   * Called after the last chunk: a reason to reject the body with 400, with the problem's
   * title when it is not a login path in a form body, or undefined to let it end.
   */
  finish(): string | { title: string; detail: string } | undefined;
}

/**
 * Maximum wait for a login's client to read more of its response before its connection is
 * closed, or `upstream_timeouts.response` when that is shorter.
 */
export const LOGIN_STALL_MS = 5000;

/**
 * Create the connection pools to the upstream app. Logins are read whole before they are
 * forwarded, so they hold a connection only while the app works, and 512 of them bound the
 * load on the app. Other requests stream, so a slow client keeps its connection for as
 * long as it sends or reads slowly. A bound there would let 512 slow clients stall every
 * page, so each client connection gets its own, as without riskgate.
 */
export function createUpstream(url: URL, connectMs: number, responseMs: number, sendMs = 60_000): UpstreamTarget {
  const options = { maxFreeSockets: 64, scheduling: 'lifo' as const };
  const pool = (keepAlive: boolean, maxSockets: number) => {
    const settings = { ...options, keepAlive, maxSockets };
    return url.protocol === 'https:' ? new https.Agent(settings) : new http.Agent(settings);
  };
  return { url, agent: pool(true, Infinity), loginAgent: pool(false, 512), connectMs, responseMs, sendMs, inFlight: new Set() };
}

/**
 * End every request still in flight to the app as a `reset` upstream fault with `message`.
 * Each login's decision line is then written with the fault, so a shutdown that cannot
 * wait for a slow app still logs every login the app received.
 */
export function abortInFlight(upstream: UpstreamTarget, message: string): number {
  const pending = [...upstream.inFlight];
  for (const abort of pending) abort(message);
  return pending.length;
}

export interface PoolUsage {
  /** Connections open to the app, busy with a request. */
  active: number;
  /** Requests waiting for a connection, because `max` are busy. */
  queued: number;
  /** The pool's bound, or null for none. */
  max: number | null;
}

/** Count the busy connections and waiting requests of a pool, for the readiness report. */
export function poolUsage(agent: http.Agent): PoolUsage {
  const count = (lists: NodeJS.ReadOnlyDict<unknown[]>) =>
    Object.values(lists).reduce((sum, list) => sum + (list?.length ?? 0), 0);
  return { active: count(agent.sockets), queued: count(agent.requests), max: Number.isFinite(agent.maxSockets) ? agent.maxSockets : null };
}

/** Node's default limit on the size of a response's header block. */
const DEFAULT_HEADER_BYTES = 16 * 1024;

/**
 * Return the largest header block read from the app's response to a login with a body of
 * `bodyBytes`. Apps copy what a login sent into their response (the typed username into a
 * `Location` that refills the form), and escaping turns a byte into up to six, as JSON's
 * `\u0001` does. A response whose headers a client padded past Node's default would fail
 * to parse, and an upstream fault counts as no failure, so every guess would go uncounted.
 * The limit therefore covers eight times the body and the request's own header block.
 */
export function loginResponseHeaderBytes(bodyBytes: number): number {
  return DEFAULT_HEADER_BYTES + 8 * (bodyBytes + DEFAULT_HEADER_BYTES);
}

/**
 * Forward one request and stream the answer back. A buffered body is sent with its own
 * Content-Length, so the upstream always sees framing riskgate chose, never the client's.
 * Upstream failures answer 502 (unreachable) or 504 (no answer in time) with a problem body.
 */
export function forwardRequest(
  upstream: UpstreamTarget,
  request: IncomingMessage,
  response: ServerResponse,
  options: ForwardOptions,
): Promise<ForwardResult> {
  const started = performance.now();
  const transport = upstream.url.protocol === 'https:' ? https : http;
  const headers = { ...options.headers };
  // The request to the app is HTTP/1.1, which needs Host. An HTTP/1.0 client may leave it
  // out, and then the app's own name is the one a proxy sends (RFC 9112 section 3.2).
  if (headers.host === undefined) headers.host = upstream.url.host;
  if (options.body) {
    headers['content-length'] = String(options.body.length);
    // Node sends keep-alive for a pool of limited size, so the close is asked for here (see loginAgent).
    headers.connection = 'close';
  } else if (request.headers['content-length'] !== undefined) {
    headers['content-length'] = request.headers['content-length'];
  } else if (request.headers['transfer-encoding'] !== undefined) {
    // Node's client frames no body on GET, HEAD, DELETE, OPTIONS or TRACE unless told to,
    // and would write a streamed body raw after the headers, where the app reads it as
    // more requests. Any body riskgate streams is therefore sent chunked, whatever the method.
    headers['transfer-encoding'] = 'chunked';
  }

  return new Promise((resolve) => {
    let settled = false;
    // The status and Location of the app's response, once its headers have arrived.
    let answered: { status?: number; location?: string; contentType?: string } = {};
    // Set when the client left before the app's status: the response is then awaited, not relayed.
    let clientGone = false;
    const aborted = { kind: 'aborted', message: 'the client closed the connection' } as const;
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: Omit<ForwardResult, 'upstreamMs'>): ForwardResult | undefined => {
      if (settled) return undefined;
      settled = true;
      clearTimeout(timer);
      upstream.inFlight.delete(abort);
      const timed = { ...result, upstreamMs: performance.now() - started };
      resolve(timed);
      return timed;
    };

    const outgoing = transport.request({
      protocol: upstream.url.protocol,
      hostname: upstream.url.hostname,
      port: upstream.url.port,
      method: request.method,
      path: request.url,
      headers,
      agent: options.body ? upstream.loginAgent : upstream.agent,
      setHost: false,
      ...(options.body ? { maxHeaderSize: loginResponseHeaderBytes(options.body.length) } : {}),
    });

    // `answered` is the status and Location of an answer that was cut off after it began.
    const fail = (kind: UpstreamFailure, message: string, answered: { status?: number; location?: string; contentType?: string } = {}) => {
      if (settled) return;
      outgoing.destroy();
      if (!response.headersSent) {
        const status = kind === 'timeout' ? 504 : 502;
        if (kind === 'invalid') sendProblem(response, status, 'invalid upstream response', message, true);
        else sendProblem(response, status, FAILURE_TITLES[kind], `the application did not answer: ${kind}`, true);
        finish({ error: { kind, message } });
      } else {
        response.destroy();
        finish({ ...answered, error: { kind, message } });
      }
    };

    const abort = (message: string) => fail('reset', message, answered);
    upstream.inFlight.add(abort);
    timer = setTimeout(() => fail('timeout', `no response within ${upstream.responseMs} ms`), upstream.responseMs);

    outgoing.on('socket', (socket) => {
      if (socket.connecting) {
        const connectTimer = setTimeout(
          () => fail('timeout', `no connection within ${upstream.connectMs} ms`),
          upstream.connectMs,
        );
        socket.once('connect', () => clearTimeout(connectTimer));
        socket.once('close', () => clearTimeout(connectTimer));
      }
    });

    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // An HPE_ code comes from llhttp: the app responded, with bytes Node's strict parser refuses.
      const kind = error.code === 'ECONNREFUSED' || error.code === 'ENOTFOUND' || error.code === 'EHOSTUNREACH'
        ? 'connect' : error.code?.startsWith('HPE_') ? 'invalid' : 'reset';
      // A status that reached the client already stays on the result (see fail).
      fail(kind, `${error.code ?? 'error'}: ${error.message}`, answered);
    });

    outgoing.on('response', async (answer) => {
      clearTimeout(timer);
      const status = answer.statusCode ?? 502;
      const location = answer.headers.location;
      const contentType = answer.headers['content-type'];
      // A 101 here is the response to a request that asked for no upgrade, as an endpoint that
      // echoes a status can send. A proxy in front would take the client's connection for a tunnel from
      // then on, and check none of its later requests.
      if (status === 101) {
        fail('invalid', 'the application responded with 101 Switching Protocols to a request without an upgrade');
        return;
      }
      answered = { status, location, contentType };
      if (clientGone) {
        answer.destroy();
        finish({ status, location, contentType, error: aborted });
        return;
      }
      const responseHeaders = downstreamResponseHeaders(answer.rawHeaders, answer.headers.connection);

      // Listen before the await below: an app that drops the connection while the extra
      // headers are being made would otherwise leave the client waiting for good.
      const cutOff = () => fail('reset', 'the upstream response was cut off', { status, location, contentType });
      answer.once('close', () => {
        if (!answer.complete) cutOff();
      });
      answer.once('error', cutOff);

      try {
        if (options.extraResponseHeaders) {
          responseHeaders.push(...(await options.extraResponseHeaders(status, location, contentType)));
        }
        if (settled) {
          answer.destroy();
          return;
        }
        if (response.destroyed) {
          answer.destroy();
          finish({ status, location, contentType });
          return;
        }
        response.writeHead(status, answer.statusMessage, responseHeaders);
      } catch (error) {
        // Node's client accepts statuses such as 099 that its server refuses to send. The
        // throw would escape this listener as an unhandled rejection and stop the process.
        answer.destroy();
        fail('reset', `the upstream response could not be relayed: ${(error as Error).message}`);
        return;
      }
      if (!options.beforeEnd) {
        answer.pipe(response, { end: false });
        // A client that stops reading would hold the app's connection for as long as it
        // keeps its own, so its connection is closed after a stall.
        let stalled: NodeJS.Timeout | undefined;
        const watch = () => {
          clearTimeout(stalled);
          stalled = response.writableNeedDrain ? setTimeout(() => response.destroy(), upstream.sendMs) : undefined;
        };
        answer.on('data', watch);
        response.on('drain', watch);
        response.once('close', () => clearTimeout(stalled));
        answer.once('end', () => {
          clearTimeout(stalled);
          finish({ status, location, contentType });
          response.end();
        });
        return;
      }

      // A login's decision line waits for the end of the app's body, so an app that stops
      // sending after its headers would hold the line and the client for good. Its whole body
      // gets `upstream_timeouts.response` from the headers, and is then ended as a timeout.
      const bodyTimer = setTimeout(
        () => fail('timeout', `the response body did not end within ${upstream.responseMs} ms`, { status, location, contentType }),
        upstream.responseMs,
      );
      answer.once('close', () => clearTimeout(bodyTimer));

      // The last chunk is held back until beforeEnd has run, because a client that knows the body's
      // length has its whole response once the last byte arrives, before the response ends.
      let lastChunk: Buffer | undefined;
      answer.on('data', (chunk: Buffer) => {
        if (lastChunk && !response.write(lastChunk) && !response.destroyed) {
          answer.pause();
          // A login's decision line and counts wait for the end of its response, so a client
          // that stops reading a large one would hold them back, and its in-flight slot, for
          // as long as it keeps the connection. Its connection is closed after a stall instead.
          const stalled = options.body
            ? setTimeout(() => response.destroy(), Math.min(upstream.responseMs, LOGIN_STALL_MS))
            : undefined;
          // Removed on drain, since a large response fills the buffer many times.
          const onClose = () => clearTimeout(stalled);
          response.once('close', onClose);
          response.once('drain', () => {
            clearTimeout(stalled);
            response.off('close', onClose);
            answer.resume();
          });
        }
        lastChunk = chunk;
      });
      answer.once('end', () => {
        const result = finish({ status, location, contentType });
        if (result) options.beforeEnd?.(result);
        response.end(lastChunk);
      });
    });

    const onClientClose = () => {
      if (settled || response.writableFinished) return;
      if (options.body && answered.status === undefined) {
        // The app has the whole buffered body and checks it anyway, so its status still
        // decides the outcome: a client that hangs up before it must not skip the count.
        clientGone = true;
        return;
      }
      outgoing.destroy();
      finish({ ...answered, error: aborted });
    };
    // A login's client may leave while riskgate is still judging it, before this listener.
    if (response.destroyed) onClientClose();
    else response.on('close', onClientClose);

    const reject = (problem: string | { title: string; detail: string }) => {
      if (settled) return;
      const { title, detail } = typeof problem === 'string' ? { title: 'login path in a form body', detail: problem } : problem;
      outgoing.destroy();
      if (response.headersSent) response.destroy();
      else sendProblem(response, 400, title, detail, true);
      finish({ ...answered, error: { kind: 'rejected', message: title } });
    };

    if (options.body) {
      outgoing.end(options.body);
    } else if (options.bodyCheck) {
      streamChecked(request, outgoing, options.bodyCheck, reject);
    } else {
      request.pipe(outgoing);
    }
  });
}

/**
 * Stream a client's body to the app through a check, one byte behind, so the app never has
 * the whole body until the check has passed it: the last byte goes on only then. An app
 * that reads a form only once it is whole, as PHP does, acts on no rejected body.
 */
function streamChecked(
  request: IncomingMessage,
  outgoing: http.ClientRequest,
  check: BodyCheck,
  reject: (problem: string | { title: string; detail: string }) => void,
): void {
  let heldByte: Buffer | undefined;
  request.on('data', (chunk: Buffer) => {
    check.write(chunk);
    if (chunk.length === 0 || outgoing.destroyed) return;
    const before = heldByte;
    heldByte = chunk.subarray(chunk.length - 1);
    let flowing = before === undefined || outgoing.write(before);
    if (chunk.length > 1) flowing = outgoing.write(chunk.subarray(0, chunk.length - 1)) && flowing;
    if (!flowing) {
      request.pause();
      outgoing.once('drain', () => request.resume());
    }
  });
  request.once('end', () => {
    const problem = check.finish();
    if (problem !== undefined) reject(problem);
    else outgoing.end(heldByte);
  });
}

/**
 * Connections that a response with `Connection: close` ends. A client may have pipelined
 * more requests on them, which Node parses anyway; the server drops those unanswered.
 */
export const closingConnections = new WeakSet<object>();

/** Send an RFC 9457 problem document. */
export function sendProblem(
  response: ServerResponse,
  status: number,
  title: string,
  detail: string,
  close = false,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({ type: 'about:blank', title, status, detail, ...extra });
  if (close && response.socket) closingConnections.add(response.socket);
  response.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
    ...headers,
  });
  response.end(body);
}

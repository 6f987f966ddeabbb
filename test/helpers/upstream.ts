import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

/** One request exactly as the upstream received it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  sha256: string;
  username?: string;
  receivedAt: number;
}

/**
 * `hang` never answers; `reset` drops the connection before answering; `reset-mid-answer`
 * sends the status line, headers and part of the body, then drops the connection.
 */
export type UpstreamBehaviour = 'normal' | 'hang' | 'reset' | 'reset-mid-answer';

/** A test's own answer for some requests; returns true when it answered. */
export type UpstreamResponder = (request: ReceivedRequest, response: ServerResponse) => boolean;

/**
 * A login app on 127.0.0.1 that records every request byte for byte. POST /login answers
 * 200 when the password matches the user's (default: `wonderland` for anyone), else 401.
 */
export class RecordingUpstream {
  readonly requests: ReceivedRequest[] = [];
  behaviour: UpstreamBehaviour = 'normal';
  /** Consulted before the built-in answers, so a test can shape one path's response. */
  responder?: UpstreamResponder;
  private server?: http.Server;

  constructor(private readonly users?: Record<string, string>) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  get logins(): ReceivedRequest[] {
    return this.requests.filter((request) => loginPath(request.url.split('?')[0]));
  }

  async start(port = 0): Promise<this> {
    this.server = http.createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const fields = parseFields(body, request.headers['content-type'], request.headers['content-encoding']);
      const received: ReceivedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body,
        sha256: createHash('sha256').update(body).digest('hex'),
        username: typeof fields.username === 'string' ? fields.username : undefined,
        receivedAt: Date.now(),
      };
      this.requests.push(received);

      if (this.behaviour === 'hang') return;
      if (this.behaviour === 'reset') {
        response.socket?.destroy();
        return;
      }
      if (this.behaviour === 'reset-mid-answer') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"ok":', () => setTimeout(() => response.socket?.destroy(), 20));
        return;
      }
      if (this.responder?.(received, response)) return;

      const path = (request.url ?? '/').split('?')[0];
      // Routed like a lenient framework: case-insensitive, trailing slash ignored.
      if (request.method === 'POST' && loginPath(path)) {
        const expected = this.users ? this.users[String(fields.username)] : 'wonderland';
        const accepted = typeof fields.password === 'string' && fields.password === expected;
        reply(response, accepted ? 200 : 401, { ok: accepted });
        return;
      }
      reply(response, 200, { page: path });
    });
  }
}

function loginPath(path: string): boolean {
  return path.toLowerCase().replace(/\/+$/, '') === '/login';
}

function parseFields(body: Buffer, contentType: string | undefined, encoding?: string): Record<string, unknown> {
  try {
    const text = inflate(body, encoding).toString('utf8').replace(/^\uFEFF/, '');
    if ((contentType ?? '').includes('json')) return JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(new URLSearchParams(text));
  } catch {
    return {};
  }
}

/** Undo a Content-Encoding as body-parsing middleware does, so a gzip login is read inflated. */
function inflate(body: Buffer, encoding: string | undefined): Buffer {
  let data = body;
  for (const coding of (encoding ?? '').toLowerCase().split(',').map((part) => part.trim()).reverse()) {
    if (coding === 'gzip' || coding === 'x-gzip') data = gunzipSync(data);
    else if (coding === 'deflate') data = inflateSync(data);
    else if (coding === 'br') data = brotliDecompressSync(data);
  }
  return data;
}

function reply(response: ServerResponse, status: number, document: unknown): void {
  const data = JSON.stringify(document);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  response.end(data);
}

import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

export type UpstreamBehaviour = 'normal' | 'hang' | 'reset';

/**
 * A login app on 127.0.0.1 that records every request byte for byte. POST /login answers
 * 200 when the password matches the user's (default: `wonderland` for anyone), else 401.
 */
export class RecordingUpstream {
  readonly requests: ReceivedRequest[] = [];
  behaviour: UpstreamBehaviour = 'normal';
  private server?: http.Server;

  constructor(private readonly users?: Record<string, string>) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  get logins(): ReceivedRequest[] {
    return this.requests.filter((request) => request.url.split('?')[0].toLowerCase().replace(/\/+$/, '') === '/login');
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
      const fields = parseFields(body, request.headers['content-type']);
      this.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body,
        sha256: createHash('sha256').update(body).digest('hex'),
        username: typeof fields.username === 'string' ? fields.username : undefined,
        receivedAt: Date.now(),
      });

      if (this.behaviour === 'hang') return;
      if (this.behaviour === 'reset') {
        response.socket?.destroy();
        return;
      }

      const path = (request.url ?? '/').split('?')[0];
      if (request.method === 'POST' && path === '/login') {
        const expected = this.users ? this.users[String(fields.username)] : 'wonderland';
        const accepted = typeof fields.password === 'string' && fields.password === expected;
        reply(response, accepted ? 200 : 401, { ok: accepted });
        return;
      }
      reply(response, 200, { page: path });
    });
  }
}

function parseFields(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  try {
    const text = body.toString('utf8').replace(/^\uFEFF/, '');
    if ((contentType ?? '').includes('json')) return JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(new URLSearchParams(text));
  } catch {
    return {};
  }
}

function reply(response: ServerResponse, status: number, document: unknown): void {
  const data = JSON.stringify(document);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  response.end(data);
}

import net from 'node:net';

import { REDIS_URL } from '../helpers/gateway.js';

/**
 * A TCP relay on 127.0.0.1 in front of the shared test Redis, which a test can cut or
 * freeze to play an outage without touching the server other tests use. `cut` closes every
 * connection and refuses new ones, as when Redis dies. `freeze` keeps connections open but
 * passes no byte in either direction, as when Redis hangs. `restore` ends either, and the
 * data in Redis is still there.
 */
export class RedisLink {
  private server?: net.Server;
  private readonly links = new Set<Link>();
  private frozen = false;
  private port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}/${new URL(REDIS_URL).pathname.slice(1) || '0'}`;
  }

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  /** Close every connection and stop listening, so connections are refused. */
  async cut(): Promise<void> {
    for (const link of this.links) link.close();
    this.links.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Keep every connection open but hold back every byte until `restore`. */
  freeze(): void {
    this.frozen = true;
  }

  /** Deliver the held bytes and relay again after `freeze`, or listen again on the same port after `cut`. */
  async restore(): Promise<void> {
    this.frozen = false;
    for (const link of this.links) link.flush();
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private async listen(): Promise<void> {
    const target = new URL(REDIS_URL);
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: target.hostname, port: Number(target.port || 6379) });
      const link = new Link(client, upstream, () => this.frozen);
      this.links.add(link);
      link.onClose = () => this.links.delete(link);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
}

/** One relayed connection; while the link is frozen, it buffers bytes instead of passing them. */
class Link {
  private readonly held: [net.Socket, Buffer][] = [];
  onClose?: () => void;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly frozen: () => boolean,
  ) {
    client.on('data', (chunk: Buffer) => this.relay(upstream, chunk));
    upstream.on('data', (chunk: Buffer) => this.relay(client, chunk));
    for (const socket of [client, upstream]) {
      socket.on('close', () => this.close());
      socket.on('error', () => this.close());
    }
  }

  flush(): void {
    for (const [target, chunk] of this.held.splice(0)) target.write(chunk);
  }

  close(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.onClose?.();
  }

  private relay(target: net.Socket, chunk: Buffer): void {
    if (this.frozen()) this.held.push([target, chunk]);
    else target.write(chunk);
  }
}

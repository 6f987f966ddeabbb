import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What came back on one raw connection. */
export interface RawExchange {
  /** Everything the gateway wrote, decoded as latin1 so no byte is lost. */
  text: string;
  /** Status codes of every response in `text`, in order. */
  statuses: number[];
  /** True when the gateway closed the connection before the client's idle timeout. */
  closedByServer: boolean;
  /** Milliseconds from the last byte sent to the first byte received. */
  firstByteMs?: number;
  /** Wall-clock time (Date.now) at which the last piece was written. */
  lastByteAt: number;
  error?: string;
}

export interface RawOptions {
  /** Pieces written one after another, with `pauseMs` between them. */
  pieces?: (string | Buffer)[];
  pauseMs?: number;
  /** Local source address, such as 127.0.0.2. */
  source?: string;
  /** How long to wait for more data before the client gives up and closes. */
  idleMs?: number;
  /** Close once this many complete Content-Length framed responses arrived (default 1). */
  responses?: number;
  /** How long to wait for the server to close after the last response (default 150 ms). */
  closeWaitMs?: number;
}

/**
 * Write bytes on a fresh TCP connection exactly as given and collect the reply until the
 * server closes or the connection stays idle for `idleMs`.
 */
export function rawExchange(port: number, request: string | Buffer, options: RawOptions = {}): Promise<RawExchange> {
  const pieces = options.pieces ?? [request];
  const idleMs = options.idleMs ?? 1500;

  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.source });
    const received: Buffer[] = [];
    let lastSentAt = 0;
    let lastByteAt = 0;
    let firstByteMs: number | undefined;
    let closedByServer = false;
    let error: string | undefined;
    let idle: NodeJS.Timeout | undefined;

    const armIdle = (ms = idleMs) => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), ms);
    };

    socket.on('data', (chunk: Buffer) => {
      if (firstByteMs === undefined) firstByteMs = performance.now() - lastSentAt;
      received.push(chunk);
      // Once the expected responses are complete, wait briefly to see whether the server closes.
      const complete = completeResponses(Buffer.concat(received).toString('latin1')) >= (options.responses ?? 1);
      armIdle(complete ? (options.closeWaitMs ?? 150) : idleMs);
    });
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', (cause: Error) => {
      error = cause.message;
    });
    socket.on('close', () => {
      clearTimeout(idle);
      const text = Buffer.concat(received).toString('latin1');
      resolve({ text, statuses: statusesOf(text), closedByServer, firstByteMs, lastByteAt, error });
    });

    socket.once('connect', async () => {
      for (let index = 0; index < pieces.length; index += 1) {
        if (index > 0 && options.pauseMs) await sleep(options.pauseMs);
        if (socket.destroyed) break;
        socket.write(pieces[index]);
        lastSentAt = performance.now();
        lastByteAt = Date.now();
      }
      armIdle();
    });
  });
}

/** Build an HTTP/1.1 request from its parts; headers are written exactly as given. */
export function rawRequest(
  method: string,
  target: string,
  headers: [string, string][],
  body: string | Buffer = '',
): Buffer {
  const head = [`${method} ${target} HTTP/1.1`, ...headers.map(([name, value]) => `${name}: ${value}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}

/** Headers of a browser-like JSON login, plus Host and Content-Length for `body`. */
export function loginHeaders(body: string | Buffer, contentType = 'application/json'): [string, string][] {
  return [
    ['Host', 'riskgate.test'],
    ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
    ['Accept', 'application/json'],
    ['Accept-Language', 'en-GB'],
    ['Content-Type', contentType],
    ['Content-Length', String(Buffer.byteLength(body))],
  ];
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Count the responses in `text` whose Content-Length framed body has fully arrived. */
function completeResponses(text: string): number {
  let count = 0;
  let offset = 0;
  while (offset < text.length) {
    const end = text.indexOf('\r\n\r\n', offset);
    if (end === -1) break;
    const head = text.slice(offset, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) break;
    const next = end + 4 + Number(length[1]);
    if (next > text.length) break;
    count += 1;
    offset = next;
  }
  return count;
}

function statusesOf(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((match) => Number(match[1]));
}

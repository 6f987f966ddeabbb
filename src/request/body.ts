import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

/** A request riskgate rejects before judging it, with the status and reason to send. */
export class RequestRejection extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Read a whole request body, up to `limitBytes`. A declared Content-Length over the limit is
 * rejected before any byte is read; a chunked body is rejected as soon as it passes the limit.
 */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    return Promise.reject(tooLarge(limitBytes));
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;

    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        cleanup();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new RequestRejection(400, 'invalid request body', `the request body could not be read: ${error.message}`));
    };
    const onAborted = () => {
      cleanup();
      reject(new RequestRejection(400, 'incomplete request body', 'the client closed the connection before the body ended'));
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
    };

    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}

/** Most content codings a login body may carry. */
const MAX_CONTENT_CODINGS = 2;

/**
 * Undo a Content-Encoding so the body can be read as the app will read it once its own
 * middleware inflates it. The output is bounded by the same limit, so a small compressed
 * body cannot expand into a large one.
 */
export function decodeContentEncoding(body: Buffer, encoding: string | undefined, limitBytes: number): Buffer {
  const codings = (encoding ?? '')
    .toLowerCase()
    .split(',')
    .map((coding) => coding.trim())
    .filter((coding) => coding !== '' && coding !== 'identity');
  // No client compresses a login twice; each coding would cost another full decode.
  if (codings.length > MAX_CONTENT_CODINGS) {
    throw new RequestRejection(415, 'unsupported content encoding',
      `the body has ${codings.length} content codings; send at most ${MAX_CONTENT_CODINGS} (gzip, deflate or br)`);
  }

  let decoded = body;
  for (const coding of codings.reverse()) {
    const options = { maxOutputLength: limitBytes };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') decoded = gunzipSync(decoded, options);
      else if (coding === 'deflate') decoded = inflateSync(decoded, options);
      else if (coding === 'br') decoded = brotliDecompressSync(decoded, options);
      else {
        throw new RequestRejection(415, 'unsupported content encoding',
          `Content-Encoding "${coding}" is not supported on login routes; send gzip, deflate, br or none`);
      }
    } catch (error) {
      if (error instanceof RequestRejection) throw error;
      if (error instanceof RangeError || (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw tooLarge(limitBytes);
      }
      throw new RequestRejection(400, 'invalid request body', `the ${coding} body could not be decoded`);
    }
  }
  return decoded;
}

function tooLarge(limitBytes: number): RequestRejection {
  return new RequestRejection(413, 'request body too large',
    `login request bodies are limited to ${limitBytes} bytes (body_limit_bytes)`);
}

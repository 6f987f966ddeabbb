import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Hash of the header names in the order the client sent them, plus its Accept-Language and
 * Accept-Encoding values. One attack tool behind many proxies sends the same set in the
 * same order, while browsers of different makes and locales differ.
 */
export function headerFingerprint(request: IncomingMessage): string {
  const raw = request.rawHeaders;
  const hash = createHash('sha256');
  for (let index = 0; index < raw.length; index += 2) {
    hash.update(raw[index].toLowerCase());
    hash.update('\n');
  }
  hash.update(`al=${request.headers['accept-language'] ?? ''}\nae=${request.headers['accept-encoding'] ?? ''}`);
  return hash.digest('hex').slice(0, 16);
}

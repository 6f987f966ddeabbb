import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Hash of the header names in the order the client sent them, plus its Accept-Language and
 * Accept-Encoding values. One attack tool behind many proxies sends the same set in the
 * same order, while browsers of different makes and locales differ.
 */
export function headerFingerprint(request: IncomingMessage): string {
  const raw = request.rawHeaders;
  // The hashed text is built first and hashed in one update, which costs less than an
  // update per header and gives the same digest.
  let text = '';
  for (let index = 0; index < raw.length; index += 2) {
    text += `${raw[index].toLowerCase()}\n`;
  }
  text += `al=${request.headers['accept-language'] ?? ''}\nae=${request.headers['accept-encoding'] ?? ''}`;
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

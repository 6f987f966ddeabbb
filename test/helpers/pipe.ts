import { readSync } from 'node:fs';

/** Read what a non-blocking pipe holds now, as UTF-8, without waiting for more. */
export function readAvailable(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65_536);
  for (;;) {
    let read = 0;
    try {
      read = readSync(fd, buffer);
    } catch {
      break;
    }
    if (read === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, read)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

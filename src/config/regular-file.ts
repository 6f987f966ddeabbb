import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

/**
 * Read a file that a serving gateway reloads (rule files, IP lists) without ever waiting on
 * it. Opening a FIFO for reading blocks until some process writes to it, and a device can
 * stream without end, so either would stop the event loop during a reload. The file is
 * opened non-blocking and refused unless it is a regular file. Files read once at start
 * (the config, keys) may still be FIFOs, as a shell's `<(...)` makes them.
 */
export function readRegularFile(file: string): Buffer {
  const descriptor = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(descriptor).isFile()) {
      throw new Error('it is not a regular file (a FIFO, socket, device or directory); point the setting at a file');
    }
    return readFileSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

/** Read a regular file as UTF-8 text (see readRegularFile). */
export function readRegularTextFile(file: string): string {
  return readRegularFile(file).toString('utf8');
}

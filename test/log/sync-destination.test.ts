import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { SyncDestination } from '../../src/log/sync-destination.js';

/**
 * Open a named pipe for reading and writing without blocking, with no other reader. Its
 * buffer fills after 64 KiB, and further writes fail with EAGAIN until it is read.
 */
function openFullablePipe(t: Test): number {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-pipe-'));
  const path = join(directory, 'log');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  t.teardown(() => closeSync(fd));
  return fd;
}

/** Read the pipe's current contents. */
function drain(fd: number): string {
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

t.test('full disk reports one failure', { skip: process.platform === 'linux' ? false : 'needs /dev/full' }, async (t) => {
  const reports: (string | undefined)[] = [];
  const fd = openSync('/dev/full', 'a');
  const destination = new SyncDestination(fd, (error) => reports.push(error?.code));
  t.teardown(() => destination.close());

  for (let index = 0; index < 3; index += 1) t.equal(destination.write('{"n":1}\n'), false, `write ${index} fails`);
  t.equal(destination.failure?.code, 'ENOSPC');
  t.same(reports, ['ENOSPC'], 'the failure is reported once, not per line');
});

t.test('full pipe waits, then recovers', { skip: process.platform === 'linux' ? false : 'needs mkfifo' }, async (t) => {
  const fd = openFullablePipe(t);
  const reports: (string | undefined)[] = [];
  const destination = new SyncDestination(fd, (error) => reports.push(error?.code));

  // Lines of 10,000 bytes fill the 65,536-byte pipe in the middle of the seventh line.
  const line = `{"pad":"${'x'.repeat(9990)}"}\n`;
  let written = 0;
  while (destination.write(line)) written += 1;
  t.equal(written, 6, 'six whole lines fit');
  t.same(reports, ['EAGAIN'], 'the full pipe is reported after the wait');

  const started = Date.now();
  t.equal(destination.write(line), false, 'a line while the pipe stays full fails');
  t.ok(Date.now() - started < 500, 'without waiting again');

  const before = drain(fd);
  const parts = before.split('\n');
  t.equal(parts.length, 7, 'six lines and the start of a seventh are in the pipe');
  t.ok(parts[6].length > 0 && parts[6].length < line.length, 'the seventh is cut');
  t.equal(destination.write('{"after":true}\n'), true, 'a line is written once the pipe has room');
  t.same(reports, ['EAGAIN', undefined], 'and the end of the failure is reported');
  t.equal(drain(fd), '\n{"after":true}\n', 'the cut line is ended before the next, and no failed line is written late');
});

t.test('closed destination writes nothing', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-closed-'));
  const fd = openSync(join(directory, 'log'), 'a');
  const destination = new SyncDestination(fd, () => {});
  destination.close();

  // The descriptor's number is free again, and the next file opened may get it.
  const reused = openSync(join(directory, 'other'), 'a');
  t.teardown(() => closeSync(reused));
  t.equal(destination.write('{"late":true}\n'), false, 'a line after close is dropped');
  t.equal(readFileSync(join(directory, 'other'), 'utf8'), '', 'and never reaches the file that took its number');
});

import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { MAX_PENDING_BYTES, SyncDestination } from '../../src/log/sync-destination.js';
import { readAvailable } from '../helpers/pipe.js';
import { waitFor } from '../helpers/wait.js';

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

t.test('full disk reports one failure', { skip: process.platform === 'linux' ? false : 'needs /dev/full' }, async (t) => {
  const reports: (string | undefined)[] = [];
  const fd = openSync('/dev/full', 'a');
  const destination = new SyncDestination(fd, (error) => reports.push(error?.code));
  t.teardown(() => destination.close());

  for (let index = 0; index < 3; index += 1) t.equal(destination.write('{"n":1}\n'), false, `write ${index} fails`);
  t.equal(destination.failure?.code, 'ENOSPC');
  t.same(reports, ['ENOSPC'], 'the failure is reported once, not per line');
});

t.test('full pipe keeps lines pending without waiting', { skip: process.platform === 'linux' ? false : 'needs mkfifo' }, async (t) => {
  const fd = openFullablePipe(t);
  const reports: (string | undefined)[] = [];
  const destination = new SyncDestination(fd, (error) => reports.push(error?.code));

  // Lines of 10,000 bytes fill the 65,536-byte pipe in the middle of the seventh line.
  const line = (n: number) => `{"n":${n},"pad":"${'x'.repeat(9985)}"}\n`;
  const started = performance.now();
  for (let n = 0; n < 10; n += 1) t.equal(destination.write(line(n)), true, `line ${n} is taken`);
  t.ok(performance.now() - started < 200, 'no line waits for the reader');
  t.equal(destination.failure, undefined, 'a reader that is behind is no failure while lines fit');

  let text = readAvailable(fd);
  await waitFor(() => {
    text += readAvailable(fd);
    return text.split('\n').length === 11;
  }, 'the pending lines after the reader catches up');
  t.same(text.split('\n').slice(0, 10).map((part) => JSON.parse(part).n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every line whole and in order');
  t.same(reports, [], 'nothing was reported');
});

t.test('a line that does not fit the pending limit is dropped, until the reader catches up', { skip: process.platform === 'linux' ? false : 'needs mkfifo' }, async (t) => {
  const fd = openFullablePipe(t);
  const reports: (string | undefined)[] = [];
  const destination = new SyncDestination(fd, (error) => reports.push(error?.code));
  const line = (n: number) => `{"n":${n},"pad":"${'x'.repeat(9980)}"}\n`;

  let accepted = 0;
  while (destination.write(line(accepted))) accepted += 1;
  t.ok(accepted * 10_000 > MAX_PENDING_BYTES && accepted * 10_000 < MAX_PENDING_BYTES + 200_000, `the pipe and the pending limit took ${accepted} lines`);
  t.equal(destination.failure?.code, 'EAGAIN', 'the dropped line is a failure');
  t.same(reports, ['EAGAIN'], 'reported once');
  t.equal(destination.write(line(-1)), false, 'later lines are dropped while the limit is reached');

  let text = '';
  await waitFor(() => {
    text += readAvailable(fd);
    return destination.failure === undefined;
  }, 'everything pending written');
  text += readAvailable(fd);
  const numbers = text.split('\n').filter((part) => part !== '').map((part) => JSON.parse(part).n);
  t.same(numbers, [...Array(accepted).keys()], 'every line taken arrived whole and in order, and no dropped one');
  t.same(reports, ['EAGAIN', undefined], 'the end of the failure is reported');
  t.equal(destination.write('{"after":true}\n'), true);
  t.equal(readAvailable(fd), '{"after":true}\n', 'a line after it is written at once');
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

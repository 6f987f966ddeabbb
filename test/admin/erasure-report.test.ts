import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import t from 'tap';

import { CLI, cleanEnv, ensureBuilt, writeRedisCliConfig } from '../helpers/cli.js';
import { REDIS_URL, TEST_SECRET, login, startTestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix, hashOf, listKeys } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { ADMIN_TOKEN, admin } from './client.js';

const run = promisify(execFile);

/**
 * Keys of `before` that are missing from `after`, leaving out manual entry keys, which erasure
 * reports on their own. A profile key stays with only the erasure mark in it, and counts as
 * deleted when it held a profile before (when it is not in `marked`).
 */
async function deletedCounterAndProfileKeys(prefix: string, before: string[], after: string[], marked: string[]): Promise<string[]> {
  const left = new Set(after);
  const newlyMarked = (await erasureMarks(prefix, after)).filter((key) => before.includes(key) && !marked.includes(key));
  return [...before.filter((key) => !left.has(key) && !key.startsWith(`${prefix}:m:`)), ...newlyMarked];
}

/** Profile keys among `keys` that hold only an erasure mark. */
async function erasureMarks(prefix: string, keys: string[]): Promise<string[]> {
  const marks: string[] = [];
  for (const key of keys.filter((key) => key.startsWith(`${prefix}:p:`))) {
    if (JSON.stringify(await hashOf(key)) === '{"last":"erased"}') marks.push(key);
  }
  return marks;
}

t.test('erase and forget report deleted keys', async (t) => {
  ensureBuilt();
  const prefix = `rgte${randomBytes(4).toString('hex')}`;
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { store: { url: REDIS_URL, key_prefix: prefix, timeout: '200ms' }, admin: { token: ADMIN_TOKEN } },
  });
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-erasure-'));
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    await deleteKeysWithPrefix(prefix);
    rmSync(directory, { recursive: true, force: true });
  });
  const configFile = writeRedisCliConfig(directory, prefix);
  const forget = async (username: string) => {
    const { stdout } = await run(process.execPath, [CLI, 'forget', username, '--config', configFile],
      { env: cleanEnv({ RISKGATE_SECRET: TEST_SECRET }) });
    return JSON.parse(stdout);
  };

  // A success and then failures give each account a profile, a counter index and failure
  // counters. A success would clear the counters keyed by the account and the address.
  for (const password of ['wonderland', 'wrong-1', 'wrong-2']) {
    await login(gateway.port, 'alice', password, { source: '127.0.0.92' });
  }
  await login(gateway.port, 'carol', 'wonderland', { source: '127.0.0.93' });
  await login(gateway.port, 'carol', 'wrong-1', { source: '127.0.0.93' });
  await waitForDecisions(gateway.logs, 5);

  const beforeErase = await listKeys(prefix);
  const marksBeforeErase = await erasureMarks(prefix, beforeErase);
  const reply = await admin(gateway.adminPort, 'POST', '/v1/accounts/erase', { body: { username: 'alice' } });
  const afterErase = await listKeys(prefix);
  const erased = reply.json();

  t.equal(reply.status, 200);
  t.equal(erased.keys_deleted, (await deletedCounterAndProfileKeys(prefix, beforeErase, afterErase, marksBeforeErase)).length,
    'the API reports the keys that left the store');
  t.ok(erased.keys_deleted > 2, 'counter keys were deleted besides the profile and the index');
  t.equal(erased.profile_erased, true);
  t.equal(erased.counters_erased, 3, 'the two account counters and the account-and-address counter were erased');
  t.equal(erased.erased_keys, undefined, 'the old field name is gone');

  const repeated = await forget('alice');
  t.same(Object.keys(repeated).sort(), Object.keys(erased).sort(), 'forget answers with the fields of the API');
  t.equal(repeated.keys_deleted, 0, 'forget after the erase deletes nothing and says so');
  t.equal(repeated.counters_erased, 0);
  t.equal(repeated.profile_erased, false);
  t.same((await listKeys(prefix)).sort(), afterErase.sort(), 'the store is unchanged');

  const beforeForget = await listKeys(prefix);
  const marksBeforeForget = await erasureMarks(prefix, beforeForget);
  const forgotten = await forget('carol');
  const afterForget = await listKeys(prefix);
  t.equal(forgotten.keys_deleted, (await deletedCounterAndProfileKeys(prefix, beforeForget, afterForget, marksBeforeForget)).length,
    'forget reports the keys that left the store');
  t.ok(forgotten.keys_deleted > 2, 'forget deleted counter keys too');
  t.equal(forgotten.profile_erased, true);
  t.equal(forgotten.counters_erased, 3);

  const audit = gateway.logs.lines.find((line) => line.event?.action === 'admin-account-erase');
  t.equal(audit?.riskgate.admin.details.keys_deleted, erased.keys_deleted, 'the audit line carries the same count');
});

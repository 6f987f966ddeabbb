import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import t from 'tap';

import { ManualEntryStore } from '../../src/admin/manual-entries.js';
import { eraseAccount } from '../../src/profile/erasure.js';
import { spellingTag } from '../../src/profile/features.js';
import { profileKey } from '../../src/profile/keys.js';
import { exportAccount } from '../../src/profile/privacy.js';
import { encodeProfile, recordSuccess } from '../../src/profile/profile.js';
import { writeRedisCliConfig } from '../helpers/cli.js';
import { FakeClock } from '../helpers/clock.js';
import { DEFAULT_RULES, PROJECT_ROOT, TEST_SECRET, login, type TestGateway } from '../helpers/gateway.js';
import { hashOf, listKeys } from '../helpers/redis.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import type { RecordingUpstream } from '../helpers/upstream.js';
import { STORES, deviceCookie, startProfileGateway } from './helpers.js';

const run = promisify(execFile);
const CLI = resolve(PROJECT_ROOT, 'dist/cli/main.js');

/** Two accounts from one address: alice succeeds once and fails twice, bob succeeds. */
async function populate(gateway: TestGateway): Promise<void> {
  const first = await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'alice', 'wrong-1', { headers: { cookie: deviceCookie(first) } });
  await login(gateway.port, 'alice', 'wrong-2');
  await login(gateway.port, 'bob', 'wonderland');
  await waitForDecisions(gateway.logs, 4);
}

/** Hold the app's 200 to each login until the returned function is called. */
function holdLogins(upstream: RecordingUpstream): () => void {
  let release = () => {};
  const appWait = new Promise<void>((resolve) => {
    release = resolve;
  });
  upstream.responder = (request, response) => {
    if (!request.url.startsWith('/login')) return false;
    void appWait.then(() => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
    return true;
  };
  return release;
}

for (const store of STORES) {
  t.test(`${store}: export returns what was stored`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    await populate(gateway);

    const exported = await exportAccount(gateway.context.store.primary, gateway.context.keys, gateway.config, ' Alice ', {
      ruleSet: gateway.context.rules.current,
      now: clock.now,
    });
    const counters = Object.fromEntries(exported.counters.map((counter) => [counter.name, counter.value]));
    t.equal(exported.account.pseudonym, gateway.context.keys.pseudonymize('alice'), 'the username was normalised first');
    t.equal(exported.profile?.successes, 1);
    t.equal(exported.profile?.features.device.length, 1, 'the device of the success is on record');
    t.same(exported.profile?.features.network.map((entry) => entry.value), ['127.0.0.0/24']);
    t.equal(exported.profile?.last_location, null, 'loopback has no location');
    t.equal(counters.failures_per_account, 2);
    t.equal(counters.failures_per_account_ip, 2, 'the account-and-address counter was found through the index');
    t.notOk(JSON.stringify(exported).includes('alice'), 'the export never names the username');
  });

  t.test(`${store}: export shows the requested spelling only`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    const { keys } = gateway.context;
    // Counters fold accents, so cárol and carol share a profile; the app keeps them apart.
    const limits = { retentionMs: gateway.config.profile.retentionMs, maxValuesPerFeature: 16 };
    let profile = recordSuccess(undefined, { country: 'GB', network: '81.2.69.0/24' },
      { latitude: 51.5, longitude: -0.09, accuracyKm: 10 }, clock.now, limits, spellingTag('carol', keys));
    profile = recordSuccess(profile, { country: 'SE', network: '89.160.20.0/24' },
      { latitude: 58.4, longitude: 15.6, accuracyKm: 76 }, clock.now + 1000, limits, spellingTag('c\u00e1rol', keys));
    await gateway.context.store.primary.write({
      now: clock.now, increments: [], distinct: [], resets: [],
      hashWrites: [{ key: profileKey(gateway.config.store.keyPrefix, keys.pseudonymize('carol')), fields: encodeProfile(profile), ttlMs: limits.retentionMs }],
    });
    const exportOf = (name: string) => exportAccount(gateway.context.store.primary, keys, gateway.config, name, {
      ruleSet: gateway.context.rules.current,
      now: clock.now + 2000,
    });

    const carol = await exportOf('carol');
    const accented = await exportOf('C\u00c1ROL');

    t.equal(carol.profile?.successes, 2, 'the success count is shared');
    t.same(carol.profile?.features.country.map((entry) => entry.value), ['GB'], "cárol's country is not in carol's export");
    t.same(carol.profile?.features.network.map((entry) => entry.value), ['81.2.69.0/24'], 'nor her network');
    t.equal(carol.profile?.last_location, null, 'nor her last location');
    t.same(accented.profile?.features.country.map((entry) => entry.value), ['SE'], "cárol's export shows her own country");
    t.equal(accented.profile?.last_location?.latitude, 58.4, 'and her last location');
  });

  t.test(`${store}: export shows values past the retention that are still stored`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    await login(gateway.port, 'alice', 'wonderland');
    clock.advance(60 * 86_400_000);
    await login(gateway.port, 'alice', 'wonderland', { headers: { 'user-agent': chrome, 'accept-language': 'en' } });
    await waitForDecisions(gateway.logs, 2);
    // Firefox, used only in the first success, is now past the 90-day retention, while the
    // profile lives on until 90 days after the second success.
    clock.advance(40 * 86_400_000);

    const exported = await exportAccount(gateway.context.store.primary, gateway.context.keys, gateway.config, 'alice', {
      ruleSet: gateway.context.rules.current,
      now: clock.now,
    });
    const browsers = exported.profile?.features.browser ?? [];
    t.same(browsers.map((entry) => entry.value).sort(), ['Chrome', 'Firefox'], 'both stored browsers are exported');
    const firefox = browsers.find((entry) => entry.value === 'Firefox');
    t.ok(firefox && Date.parse(firefox.expires) < clock.now, 'the expired one shows when it stopped being used');
  });

  t.test(`${store}: a login in flight during erasure does not restore the profile`, async (t) => {
    const clock = new FakeClock();
    const { gateway, upstream } = await startProfileGateway(t, store, clock.read);
    await populate(gateway);
    const primary = gateway.context.store.primary;
    const options = { ruleSet: gateway.context.rules.current, now: clock.now };

    // The app keeps alice's next login waiting until the erasure is done.
    const release = holdLogins(upstream);
    const inFlight = login(gateway.port, 'alice', 'wonderland');
    await waitFor(() => upstream.logins.length === 5, 'the login at the app');
    const manual = new ManualEntryStore(gateway.context.store, gateway.config.store.keyPrefix);
    const erased = await eraseAccount([primary], manual, gateway.context.keys, gateway.config, 'alice', options);
    // The owner signs in again meanwhile, so the profile has one success again, as before.
    upstream.responder = undefined;
    clock.advance(1000);
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    t.equal((await login(gateway.port, 'alice', 'wonderland', { headers: { 'user-agent': chrome, 'accept-language': 'en' } })).status, 200);
    await waitForDecisions(gateway.logs, 5);
    release();
    t.equal((await inFlight).status, 200);
    // The gauge counts a login until its outcome write is done.
    const inFlightCount = async () => (await gateway.context.metrics.requestsInFlight.get()).values[0]?.value ?? 0;
    await waitFor(async () => (await inFlightCount()) === 0, 'the outcome write');

    const after = await exportAccount(primary, gateway.context.keys, gateway.config, 'alice', options);
    t.equal(erased.profile_erased, true);
    t.equal(after.profile?.successes, 1, 'the profile holds the new success alone');
    t.same(after.profile?.features.browser.map((entry) => entry.value), ['Chrome'], 'and none of the erased values');
  });

  t.test(`${store}: a first login in flight during erasure writes no profile`, async (t) => {
    const clock = new FakeClock();
    const { gateway, upstream } = await startProfileGateway(t, store, clock.read);
    const primary = gateway.context.store.primary;
    const options = { ruleSet: gateway.context.rules.current, now: clock.now };

    // carol has no profile yet; the app keeps her first login waiting until the erasure is done.
    const release = holdLogins(upstream);
    const inFlight = login(gateway.port, 'carol', 'wonderland');
    await waitFor(() => upstream.logins.length === 1, 'the login at the app');
    const manual = new ManualEntryStore(gateway.context.store, gateway.config.store.keyPrefix);
    const erased = await eraseAccount([primary], manual, gateway.context.keys, gateway.config, 'carol', options);
    release();
    t.equal((await inFlight).status, 200);
    const inFlightCount = async () => (await gateway.context.metrics.requestsInFlight.get()).values[0]?.value ?? 0;
    await waitFor(async () => (await inFlightCount()) === 0, 'the outcome write');

    const after = await exportAccount(primary, gateway.context.keys, gateway.config, 'carol', options);
    t.same([erased.profile_erased, erased.data_found], [false, false], 'the erasure found no profile');
    t.equal(after.profile, null, 'and the login that was waiting wrote none after it');

    // The next login after the erasure starts a profile again.
    upstream.responder = undefined;
    clock.advance(1000);
    t.equal((await login(gateway.port, 'carol', 'wonderland')).status, 200);
    await waitFor(async () => (await inFlightCount()) === 0, 'the outcome write');
    const later = await exportAccount(primary, gateway.context.keys, gateway.config, 'carol', { ...options, now: clock.now });
    t.equal(later.profile?.successes, 1, 'a login after the erasure is learned');
  });

  t.test(`${store}: erase removes the account and nothing else`, async (t) => {
    const clock = new FakeClock();
    const { gateway } = await startProfileGateway(t, store, clock.read);
    await populate(gateway);
    const primary = gateway.context.store.primary;
    const options = { ruleSet: gateway.context.rules.current, now: clock.now };

    const manual = new ManualEntryStore(gateway.context.store, gateway.config.store.keyPrefix);

    const erased = await eraseAccount([primary], manual, gateway.context.keys, gateway.config, 'alice', options);
    const again = await eraseAccount([primary], manual, gateway.context.keys, gateway.config, 'alice', options);
    t.equal(erased.profile_erased, true);
    t.equal(erased.counters_erased, 3, 'the three account counters had keys');
    t.ok(erased.keys_deleted >= 4, 'the profile, the index and a key of each counter were deleted');
    t.same([again.profile_erased, again.counters_erased, again.keys_deleted], [false, 0, 0], 'a second erasure finds nothing');

    const alice = await exportAccount(primary, gateway.context.keys, gateway.config, 'alice', options);
    const bob = await exportAccount(primary, gateway.context.keys, gateway.config, 'bob', options);
    t.equal(alice.profile, null, "alice's profile is gone");
    t.ok(alice.counters.every((counter) => counter.value === 0), "alice's counters read zero");
    t.equal(bob.profile?.successes, 1, "bob's profile is untouched");
  });
}

t.test('forget and export commands against Redis', async (t) => {
  // The commands read the time from the system clock, so the gateway must too.
  const { gateway } = await startProfileGateway(t, 'redis', Date.now);
  const prefix = gateway.config.store.keyPrefix;
  const pseudonym = gateway.context.keys.pseudonymize('alice');
  await login(gateway.port, 'bob', 'wonderland');
  await waitForDecisions(gateway.logs, 1);
  const beforeAlice = new Set(await listKeys(prefix));

  // Alice from an address of her own, so that every key her logins create is new.
  const first = await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.3' });
  await login(gateway.port, 'alice', 'wrong-1', { source: '127.0.0.3', headers: { cookie: deviceCookie(first) } });
  await login(gateway.port, 'alice', 'wrong-2', { source: '127.0.0.4' });
  await waitForDecisions(gateway.logs, 4);
  const manual = new ManualEntryStore(gateway.context.store, prefix);
  const entry = { id: `username:${pseudonym}`, action: 'block' as const, type: 'username' as const, value: pseudonym,
    reason: 'test', created_at: new Date().toISOString(), expires_at: new Date(Date.now() + 3_600_000).toISOString(), created_by: 'test' };
  await manual.put(entry);
  const aliceKeys = (await listKeys(prefix)).filter((key) => !beforeAlice.has(key));

  const directory = mkdtempSync(join(tmpdir(), 'riskgate-privacy-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = writeRedisCliConfig(directory, prefix);
  const env = { ...process.env, RISKGATE_SECRET: TEST_SECRET };
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args, '--config', configFile], { env });

  const exported = await cli('export', 'alice');
  const document = JSON.parse(exported.stdout);
  const exportAudit = JSON.parse(exported.stderr.trim().split('\n').pop()!);
  const stored = await hashOf(`${prefix}:p:{${pseudonym}}`);
  t.equal(document.profile.successes, Number(stored.n), 'export prints the stored success count');
  for (const feature of ['device', 'browser', 'network']) {
    const values = (JSON.parse(stored[feature]) as [string, number, number][]).map(([value, count]) => ({ value, count }));
    t.same(document.profile.features[feature].map(({ value, count }: { value: string; count: number }) => ({ value, count })), values,
      `export prints the stored ${feature} values`);
  }
  const counters = Object.fromEntries(document.counters.map((counter: { name: string; value: number }) => [counter.name, counter.value]));
  t.equal(counters.failures_per_account, 2, 'export prints the account counter');
  t.equal(counters.failures_per_account_ip, 1, 'and the account-and-address counters');
  t.same(document.manual_entry, entry, 'export prints the manual entry');
  t.equal(exportAudit.message, 'account data exported');
  t.equal(exportAudit.user.name, pseudonym, 'the audit line names the pseudonym');
  t.notOk(exported.stderr.includes('alice'), 'the audit line never names the username');

  const forgotten = await cli('forget', 'alice');
  const result = JSON.parse(forgotten.stdout);
  const forgetAudit = JSON.parse(forgotten.stderr.trim().split('\n').pop()!);
  t.equal(result.profile_erased, true);
  t.equal(result.manual_entry_removed, false, 'the manual block is kept');
  t.same(result.manual_block_kept, { id: entry.id, expires_at: entry.expires_at });
  t.equal(forgetAudit.message, 'account data erased');
  t.notOk(forgotten.stderr.includes('alice'), 'the audit line never names the username');

  const after = await listKeys(prefix);
  const left = aliceKeys.filter((key) => after.includes(key));
  const addressOnly = gateway.context.rules.current.counters.filter((counter) => !counter.key.includes('username')).map((counter) => counter.name);
  // The manual list's version value names no account and stays while any entry could.
  const retained = left.filter((key) => [`${prefix}:m:version`, `${prefix}:m:list`, `${prefix}:m:user:${pseudonym}`].includes(key) ||
    addressOnly.some((name) => key.startsWith(`${prefix}:c:{${name}:`)));
  t.ok(aliceKeys.some((key) => key.includes(pseudonym)), 'alice had keys named by her pseudonym');
  // The kept block's key names her pseudonym; it goes when the block expires or is removed.
  const block = `${prefix}:m:user:${pseudonym}`;
  // The profile key holds only the erasure mark, until every login that was waiting is done.
  const profile = `${prefix}:p:{${pseudonym}}`;
  t.same(after.filter((key) => key.includes(pseudonym)).sort(), [block, profile].sort(), 'no key names alice but her block and the mark');
  t.same(await hashOf(profile), { last: 'erased' }, 'the mark holds no data of hers');
  t.same(left.filter((key) => !retained.includes(key) && key !== profile), [], 'every key her logins created is gone but address-only counters and the manual block');
  t.same((await manual.list()).map((kept) => kept.id), [entry.id], 'the manual entry list still holds her block');
  t.ok(after.some((key) => key.startsWith(`${prefix}:p:{${gateway.context.keys.pseudonymize('bob')}}`)), "bob's profile is still there");
});

t.test('forget refuses the memory store', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-privacy-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const configFile = join(directory, 'riskgate.yaml');
  writeFileSync(configFile, `upstream: http://127.0.0.1:9\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`);
  const failure = await run(process.execPath, [CLI, 'forget', 'alice', '--config', configFile], {
    env: { ...process.env, RISKGATE_SECRET: TEST_SECRET },
  }).catch((error: { code: number; stderr: string }) => error);

  t.equal((failure as { code: number }).code, 1);
  t.match((failure as { stderr: string }).stderr, /store\.url is memory/);
});

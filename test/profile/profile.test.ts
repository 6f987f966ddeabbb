import t from 'tap';
import pino from 'pino';

import { GlobalFrequencies, frequencyKey } from '../../src/profile/frequencies.js';
import { decodeProfile, encodeProfile, findEntry, recordSuccess, type AccountProfile } from '../../src/profile/profile.js';
import { MAX_FEATURE_EVIDENCE, accountRisk } from '../../src/profile/risk.js';
import { greatCircleKm, travelSince } from '../../src/profile/travel.js';
import { MemoryStore } from '../../src/store/memory.js';
import { ResilientStore } from '../../src/store/resilient.js';

const DAY_MS = 86_400_000;
const LIMITS = { retentionMs: 90 * DAY_MS, maxValuesPerFeature: 3 };
const START = Date.UTC(2025, 0, 1);

function history(values: string[], limits = LIMITS): AccountProfile {
  let profile: AccountProfile | undefined;
  values.forEach((value, index) => {
    profile = recordSuccess(profile, { browser: value }, undefined, START + index * DAY_MS, limits);
  });
  return profile!;
}

t.test('profile counts repeats and evicts the least recently seen', async (t) => {
  const profile = history(['Firefox', 'Chrome', 'Firefox', 'Safari', 'Edge']);

  t.equal(profile.successes, 5);
  t.same(profile.features.browser.map((entry) => entry.value), ['Edge', 'Safari', 'Firefox'], 'newest first, capped at 3');
  t.equal(profile.features.browser.find((entry) => entry.value === 'Firefox')?.count, 2);
  t.notOk(profile.features.browser.some((entry) => entry.value === 'Chrome'), 'Chrome was seen least recently');
});

t.test('profile forgets values past the retention', async (t) => {
  const profile = history(['Firefox', 'Chrome']);
  const lastSeen = START + DAY_MS;

  const decodedInside = decodeProfile(encodeProfile(profile), START + 89 * DAY_MS, LIMITS.retentionMs);
  const decodedMixed = decodeProfile(encodeProfile(profile), START + 90 * DAY_MS + 1, LIMITS.retentionMs);
  const decodedAfter = decodeProfile(encodeProfile(profile), lastSeen + 90 * DAY_MS, LIMITS.retentionMs);

  t.equal(decodedInside?.features.browser.length, 2, 'both values inside the retention');
  t.same(decodedMixed?.features.browser.map((entry) => entry.value), ['Chrome'], 'the older value expired alone');
  t.equal(decodedAfter, undefined, 'the whole profile expired with its last success');
});

t.test('located success expires with the retention', async (t) => {
  const london = { latitude: 51.5, longitude: -0.1, accuracyKm: 10 };
  const located = recordSuccess(undefined, { country: 'GB' }, london, START, LIMITS);
  // Later successes come from addresses without a location, such as a VPN's.
  const later = recordSuccess(located, {}, undefined, START + 60 * DAY_MS, LIMITS);
  const last = recordSuccess(later, {}, undefined, START + 91 * DAY_MS, LIMITS);

  t.equal(later.lastLocated?.at, START, 'kept within the retention');
  t.equal(last.lastLocated, undefined, 'dropped by a success past it');
  t.equal(decodeProfile(encodeProfile(later), START + 91 * DAY_MS, LIMITS.retentionMs)?.lastLocated, undefined,
    'and not read past it');
});

t.test('profile round-trips through its hash fields', async (t) => {
  let profile = recordSuccess(undefined, { country: 'GB', city: 'GB-ENG:London' }, { latitude: 51.5, longitude: -0.1, accuracyKm: 10 }, START, LIMITS);
  profile = recordSuccess(profile, { country: 'GB' }, undefined, START + 1000, LIMITS);

  const decoded = decodeProfile(encodeProfile(profile), START + 2000, LIMITS.retentionMs);
  t.same(decoded, profile);
  t.equal(decoded?.lastLocated?.at, START, 'a success without a location keeps the last located one');
});

t.test('values known per spelling', async (t) => {
  let profile = recordSuccess(undefined, { country: 'SE' }, undefined, START, LIMITS, 'tag-carol-accent');
  profile = recordSuccess(profile, { country: 'GB' }, undefined, START + 1000, LIMITS, 'tag-carol');
  profile = recordSuccess(profile, { country: 'GB' }, undefined, START + 2000, LIMITS, 'tag-carol');
  const decoded = decodeProfile(encodeProfile(profile), START + 3000, LIMITS.retentionMs);

  t.same(decoded, profile, 'tags round-trip through the hash fields');
  t.ok(findEntry(decoded, 'country', 'SE', 'tag-carol-accent'), 'SE is known to the spelling that taught it');
  t.notOk(findEntry(decoded, 'country', 'SE', 'tag-carol'), 'and new to the other');
  t.equal(findEntry(decoded, 'country', 'GB', 'tag-carol')?.count, 2);
  t.equal(decoded?.successes, 3, 'the success count is shared');

  const global = new GlobalFrequencies(16);
  global.observe({ country: 'SE' });
  global.observe({ country: 'GB' });
  let fresh = recordSuccess(undefined, { country: 'GB' }, undefined, START, LIMITS, 'tag-carol');
  fresh = recordSuccess(fresh, { country: 'GB' }, undefined, START + 1000, LIMITS, 'tag-carol');
  t.equal(accountRisk(profile, { country: 'SE' }, global, 'tag-carol'), accountRisk(fresh, { country: 'SE' }, global, 'tag-carol'),
    "the other spelling's SE adds nothing to this spelling's history");

  // Entries from before spellings were kept count for every spelling, and are not claimed.
  const legacy = recordSuccess(undefined, { country: 'GB' }, undefined, START, LIMITS);
  t.ok(findEntry(legacy, 'country', 'GB', 'tag-any'), 'an untagged entry counts for any spelling');
  const after = recordSuccess(legacy, { country: 'GB' }, undefined, START + 1000, LIMITS, 'tag-carol-accent');
  t.ok(findEntry(after, 'country', 'GB', 'tag-carol'), 'one spelling\'s success does not take it from the others');
  t.equal(after.features.country.length, 2, 'the success starts an entry of its own spelling');
});

t.test('corrupt profile reads as no profile', async (t) => {
  const fields = encodeProfile(history(['Firefox']));

  t.equal(decodeProfile({ ...fields, v: '0' }, START, LIMITS.retentionMs), undefined, 'unknown format version');
  t.equal(decodeProfile({ ...fields, n: 'many' }, START, LIMITS.retentionMs), undefined, 'unreadable count');
  t.same(decodeProfile({ ...fields, browser: '{not json' }, START, LIMITS.retentionMs)?.features.browser, [], 'unreadable feature');
  t.equal(decodeProfile(null, START, LIMITS.retentionMs), undefined, 'absent');
});

t.test('great-circle distance', async (t) => {
  // One degree along a meridian is 2πR/360 on a sphere of radius 6371.0088 km.
  t.ok(Math.abs(greatCircleKm(0, 0, 1, 0) - 111.195) < 0.001, 'one degree of latitude');
  t.ok(Math.abs(greatCircleKm(0, 0, 0, 180) - Math.PI * 6371.0088) < 0.001, 'half the equator');
  t.equal(greatCircleKm(51.5, -0.1, 51.5, -0.1), 0, 'the same point');
});

t.test('travel speed and impossibility', async (t) => {
  const london = { at: START, latitude: 51.5142, longitude: -0.0931, accuracyKm: 10 };
  const linkoping = { latitude: 58.4167, longitude: 15.6167, accuracyKm: 76 };

  const fast = travelSince(london, linkoping, START + 30 * 60_000, 1000);
  const slow = travelSince(london, linkoping, START + 2 * 3_600_000, 1000);
  const near = travelSince(london, { latitude: 51.75, longitude: -1.25, accuracyKm: 100 }, START + 60_000, 1000);

  t.ok(Math.abs(fast.speed_kmh - 2515.5) < 1, `half an hour: ${fast.speed_kmh} km/h`);
  t.equal(fast.impossible, true);
  t.equal(slow.impossible, false, 'two hours is an ordinary flight');
  t.equal(near.impossible, false, 'a neighbouring town within its accuracy radius is never impossible');
  t.ok(near.speed_kmh > 1000, `even though the raw speed is ${near.speed_kmh} km/h`);
  t.same(travelSince(undefined, linkoping, START, 1000), { distance_km: 0, speed_kmh: 0, impossible: false }, 'no earlier location');
});

t.test('account risk follows the documented formula', async (t) => {
  const global = new GlobalFrequencies(16);
  for (let index = 0; index < 98; index += 1) global.observe({ browser: 'Chrome' });
  global.observe({ browser: 'Firefox' });
  global.observe({ browser: 'Lynx' });

  const routine = history(Array(9).fill('Lynx'), { ...LIMITS, maxValuesPerFeature: 16 });
  const habitChrome = history(Array(9).fill('Chrome'), { ...LIMITS, maxValuesPerFeature: 16 });

  t.equal(accountRisk(undefined, { browser: 'Chrome' }, global), 0, 'a first login is neutral');
  // Unseen value: log10((n + α) / α) with n = 9 and α = 1.
  t.ok(Math.abs(accountRisk(routine, { browser: 'Firefox' }, global) - 1) < 0.001, 'a value the account never used');
  const rare = accountRisk(routine, { browser: 'Lynx' }, global);
  const common = accountRisk(habitChrome, { browser: 'Chrome' }, global);
  t.ok(rare < common, `a rare habitual value (${rare}) reassures more than a common one (${common})`);
  t.ok(rare >= -MAX_FEATURE_EVIDENCE, 'one feature never removes more than the cap');
  t.ok(common < 0, 'a habitual value still lowers the risk');
});

t.test('account risk sums the per-feature evidence of the formula', async (t) => {
  const global = new GlobalFrequencies(16);
  const population: [string, string, number][] = [['Chrome', 'GB', 60], ['Firefox', 'SE', 30], ['Safari', 'US', 10]];
  for (const [browser, country, logins] of population) {
    for (let index = 0; index < logins; index += 1) global.observe({ browser, country });
  }
  const limits = { ...LIMITS, maxValuesPerFeature: 16 };
  let profile: AccountProfile | undefined;
  for (let day = 0; day < 5; day += 1) {
    const features = { browser: day === 4 ? 'Safari' : 'Firefox', country: 'GB', device: 'laptop' };
    profile = recordSuccess(profile, features, undefined, START + day * DAY_MS, limits);
  }

  // Worked by hand from the formula: N = 100 logins, K = 3 values per feature, α = 1.
  const share = (count: number) => (count + 1) / (100 + 3 + 1);
  const evidence = (globalShare: number, used: number, history: number) =>
    Math.max(-2, Math.min(2, Math.log10(globalShare / ((used + globalShare) / (history + 1)))));
  const browser = evidence(share(10), 1, 5);
  const country = evidence(share(30), 0, 5);
  const device = evidence(1 / (100 + 2), 5, 5);

  const risk = accountRisk(profile, { browser: 'Safari', country: 'SE', device: 'laptop', os: 'Linux' }, global);
  t.ok(Math.abs(country - Math.log10(6)) < 1e-9, 'an unseen country scores log10(n + α)');
  t.ok(device < 0, 'the known device lowers the score');
  t.equal(risk, Math.round((browser + country + device) * 1000) / 1000, 'the sum of the three features with a history');
});

t.test('global frequencies merge through the store and stay bounded', async (t) => {
  const primary = new MemoryStore({ maxEntries: 10_000 });
  const store = new ResilientStore(primary, pino({ level: 'silent' }), 10_000);
  t.teardown(() => store.close());
  const first = new GlobalFrequencies(2);
  const second = new GlobalFrequencies(2);

  for (let index = 0; index < 6; index += 1) first.observe({ country: 'GB' });
  first.observe({ country: 'SE' });
  for (let index = 0; index < 3; index += 1) second.observe({ country: 'US' });
  await first.sync(store, 'rg', START);
  await second.sync(store, 'rg', START);

  t.ok(Math.abs(second.probability('country', 'GB') - 7 / 14) < 1e-9, 'the second process sees the first one\'s counts: (6 + 1) / (10 + 3 + 1)');

  await second.sync(store, 'rg', START);
  await second.sync(store, 'rg', START);
  const table = (await primary.read({ now: START, counters: [], claims: [], hashes: [frequencyKey('rg', 'country')] })).hashes[0]!;
  t.same(Object.keys(table).filter((field) => !field.startsWith('~')).sort(), ['GB', 'US'], 'the rarest value moved to the other bucket');
  t.equal(table['~other'], '1', 'the other bucket holds its count');
  t.equal(table['~total'], '10', 'the total is kept');
});

import t from 'tap';

import { FakeClock } from '../helpers/clock.js';
import { PLACES, STORES, deviceCookie, startProfileGateway } from './helpers.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

// Great-circle distance between the test database's London and Linköping points on a sphere
// of radius 6371.0088 km, computed outside riskgate: 1257.7 km.
const LONDON_LINKOPING_KM = 1257.7;

for (const store of STORES) {
  t.test(`${store}: routine logins score lower over time`, async (t) => {
    const clock = new FakeClock();
    const { loginFrom, decision } = await startProfileGateway(t, store, clock.read);

    const first = await loginFrom('alice', 'wonderland', PLACES.london);
    const cookie = deviceCookie(first);
    clock.advance(DAY_MS);
    const second = await loginFrom('alice', 'wonderland', PLACES.london, cookie);
    clock.advance(DAY_MS);
    const third = await loginFrom('alice', 'wonderland', PLACES.london, cookie);

    t.equal(first.status, 200);
    t.equal(second.status, 200);
    t.equal(third.status, 200);
    const lines = [await decision(0), await decision(1), await decision(2)];
    t.equal(lines[0].riskgate.signals.account.first_login, true, 'the first login has no history');
    t.equal(lines[0].riskgate.signals.account.risk, 0, 'no history, no evidence either way');
    t.equal(lines[2].riskgate.signals.account.known_device, true, 'the third login comes from a known device');
    t.equal(lines[2].riskgate.signals.account.known_network, true, 'and from a known network');
    t.ok(lines[2].riskgate.signals.account.risk < lines[0].riskgate.signals.account.risk, 'account.risk fell');
    t.ok(lines[2].riskgate.signals.account.risk < lines[1].riskgate.signals.account.risk, 'and kept falling');
    t.ok(lines[2].riskgate.score < lines[0].riskgate.score, 'the third login scores lower than the first');
    t.same(lines[2].riskgate.rules, ['account.known-device-network']);
    t.equal(lines[2].riskgate.signals.account.successes, 2, 'two earlier successes are on record');
  });

  t.test(`${store}: stolen password from abroad is challenged`, async (t) => {
    const clock = new FakeClock();
    const { loginFrom, decision, upstream } = await startProfileGateway(t, store, clock.read);

    let cookie: string | undefined;
    for (let day = 0; day < 5; day += 1) {
      const reply = await loginFrom('alice', 'wonderland', PLACES.london, cookie);
      t.equal(reply.status, 200, `owner's login on day ${day} passes`);
      cookie ??= deviceCookie(reply);
      clock.advance(DAY_MS);
    }

    const attack = await loginFrom('alice', 'wonderland', PLACES.linkoping);
    const attackLine = await decision(5);
    t.equal(attack.status, 401, 'the right password from a new device in a new country is challenged');
    t.ok(attack.json().challenge?.id, 'the reply carries a step-up challenge');
    t.equal(upstream.logins.length, 5, 'the attacker never reached the app');
    t.equal(attackLine.riskgate.decision, 'challenge');
    t.same(attackLine.riskgate.rules, ['account.new-device-new-country']);
    t.equal(attackLine.source.geo.country_iso_code, 'SE');
    t.equal(attackLine.riskgate.signals.ip.asn, 29518, 'the ASN database named the network');

    clock.advance(HOUR_MS);
    const owner = await loginFrom('alice', 'wonderland', PLACES.london, cookie);
    const ownerLine = await decision(6);
    t.equal(owner.status, 200, "the owner's next routine login passes");
    t.equal(ownerLine.riskgate.decision, 'allow');
    t.equal(ownerLine.riskgate.signals.account.successes, 5, 'the challenged login taught the profile nothing');
  });

  t.test(`${store}: impossible travel is challenged`, async (t) => {
    const clock = new FakeClock();
    const { loginFrom, decision } = await startProfileGateway(t, store, clock.read);

    const first = await loginFrom('alice', 'wonderland', PLACES.london);
    const cookie = deviceCookie(first);
    clock.advance(30 * 60_000);
    const jump = await loginFrom('alice', 'wonderland', PLACES.linkoping, cookie);
    const line = await decision(1);

    t.equal(jump.status, 401, 'London to Linköping in half an hour is challenged');
    t.same(line.riskgate.rules, ['travel.impossible']);
    const travel = line.riskgate.signals.travel;
    t.ok(Math.abs(travel.distance_km - LONDON_LINKOPING_KM) < 1, `distance ${travel.distance_km} km`);
    t.ok(Math.abs(travel.speed_kmh - 2 * LONDON_LINKOPING_KM) < 2, `speed ${travel.speed_kmh} km/h`);
    t.equal(travel.impossible, true);

    clock.advance(3 * HOUR_MS);
    const flight = await loginFrom('alice', 'wonderland', PLACES.linkoping, cookie);
    const later = await decision(2);
    t.equal(flight.status, 200, 'the same trip in three and a half hours is possible');
    t.equal(later.riskgate.signals.travel.impossible, false);
    t.ok(later.riskgate.signals.travel.speed_kmh < 400, `speed ${later.riskgate.signals.travel.speed_kmh} km/h`);
  });

  t.test(`${store}: look-alike successes stay unfamiliar`, async (t) => {
    const clock = new FakeClock();
    const { loginFrom, decision, upstream } = await startProfileGateway(t, store, clock.read);

    // Counters fold accents, so cárol and carol share one profile. The app keeps them apart:
    // the attacker owns cárol and signs in to it from Sweden.
    const own = await loginFrom('cárol', 'wonderland', PLACES.linkoping);
    t.equal(own.status, 200, "the attacker's own account signs in");
    t.equal((await decision(0)).riskgate.signals.account.first_login, true);
    clock.advance(HOUR_MS);
    const again = await loginFrom('cárol', 'wonderland', PLACES.linkoping, deviceCookie(own));
    t.equal(again.status, 200);
    t.equal((await decision(1)).riskgate.signals.account.known_country, true, 'Sweden is familiar to cárol');

    // carol's password, stolen, from Sweden on a new device.
    clock.advance(HOUR_MS);
    const attack = await loginFrom('carol', 'wonderland', PLACES.linkoping);
    const line = await decision(2);
    t.equal(line.riskgate.signals.account.first_login, false, 'carol is not a new account either');
    t.equal(line.riskgate.signals.account.known_country, false, 'Sweden is new to carol');
    t.equal(line.riskgate.signals.account.known_network, false, 'and so is the network');
    t.equal(attack.status, 401, 'the login is challenged');
    t.same(line.riskgate.rules, ['account.new-device-new-country']);
    t.equal(upstream.logins.length, 2, 'only the look-alike account reached the app');
  });

  t.test(`${store}: failures never change the profile`, async (t) => {
    const clock = new FakeClock();
    const { loginFrom, decision, gateway } = await startProfileGateway(t, store, clock.read);

    const first = await loginFrom('alice', 'wonderland', PLACES.london);
    const cookie = deviceCookie(first);
    await decision(0);
    const reading = () =>
      gateway.context.store.read(
        { now: clock.now, counters: [], claims: [], hashes: [`${gateway.config.store.keyPrefix}:p:{${gateway.context.keys.pseudonymize('alice')}}`] },
        'closed',
      );
    const before = (await reading()).result.hashes[0];

    for (const [index, address] of [PLACES.linkoping, PLACES.milton, PLACES.london].entries()) {
      clock.advance(HOUR_MS);
      const reply = await loginFrom('alice', 'not-her-password', address, index === 2 ? cookie : undefined);
      t.equal(reply.status, 401, `failure ${index} is rejected by the app`);
      await decision(index + 1);
    }

    const after = (await reading()).result.hashes[0];
    t.ok(before, 'the success created a profile');
    t.same(after, before, 'three failures from three places left it unchanged');
  });
}

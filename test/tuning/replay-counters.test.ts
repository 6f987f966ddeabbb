import fc from 'fast-check';
import t from 'tap';

import { ReplayCounters } from '../../src/replay/counters.js';
import { MAX_DISTINCT_MEMBERS } from '../../src/store/memory.js';
import { bucketOf, elapsedFraction, slidingDistinct } from '../../src/store/store.js';

const WINDOW_MS = 60_000;
const DISTINCT = { name: 'usernames_per_ip', key: ['ip'] as const, count: 'distinct_usernames' as const, windowMs: WINDOW_MS, file: 'test.yaml', line: 1 };

/** Recount the distinct counter at `now` from every member added so far. */
function recount(added: { time: number; member: string }[], now: number): number {
  const bucket = bucketOf(now, WINDOW_MS);
  const membersOf = (target: number) => {
    const members = new Set<string>();
    for (const { time, member } of added) {
      if (bucketOf(time, WINDOW_MS) === target && members.size < MAX_DISTINCT_MEMBERS) members.add(member);
    }
    return members;
  };
  const current = membersOf(bucket);
  const union = new Set([...membersOf(bucket - 1), ...current]);
  return slidingDistinct(current.size, union.size, elapsedFraction(now, WINDOW_MS));
}

t.test('distinct counter matches a recount', async (t) => {
  const steps = fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 40_000 }), member: fc.integer({ min: 0, max: 300 }) }), { maxLength: 400 });
  fc.assert(fc.property(steps, (list) => {
    const counters = new ReplayCounters([DISTINCT]);
    const added: { time: number; member: string }[] = [];
    let time = 1_000_000;
    for (const { gapMs, member } of list) {
      time += gapMs;
      const read = counters.read({ ip: '192.0.2.1' }, time).usernames_per_ip;
      if (read !== recount(added, time)) return false;
      counters.write(time, 'failure', `user-${member}`);
      added.push({ time, member: `user-${member}` });
    }
    return true;
  }));
  t.pass('every read matched');
});

import type { Test } from 'tap';

import { login, type TestGateway } from './gateway.js';
import type { RecordingUpstream } from './upstream.js';
import { waitForDecisions } from './wait.js';

export const ATTEMPTS = 40;
export const ATTACKER = '127.0.0.2';
export const OWNER = '127.0.0.3';

export interface Attempt {
  status: number;
  forwarded: boolean;
}

/** Try one username per attempt from the attacker's address, spreading over the gateways. */
export async function stuff(gateways: TestGateway[], upstream: RecordingUpstream): Promise<Attempt[]> {
  const attempts: Attempt[] = [];
  for (let index = 0; index < ATTEMPTS; index += 1) {
    const gateway = gateways[index % gateways.length];
    const before = upstream.logins.length;
    const reply = await login(gateway.port, `victim${index}@example.com`, 'Summer2024!', { source: ATTACKER });
    attempts.push({ status: reply.status, forwarded: upstream.logins.length > before });
  }
  return attempts;
}

/** Check that the attack was blocked by attempt 12 and every later attempt too; return the first block's index. */
export function checkBlocked(t: Test, attempts: Attempt[]): number {
  const firstBlocked = attempts.findIndex((attempt) => attempt.status === 403 || attempt.status === 429);
  t.ok(firstBlocked !== -1, 'the attack was blocked');
  t.ok(firstBlocked <= 12, `first block at attempt ${firstBlocked}, at most 12`);
  const later = attempts.slice(firstBlocked);
  t.equal(later.filter((attempt) => attempt.status !== 403 && attempt.status !== 429).length, 0, 'every later attempt is blocked');
  t.equal(later.filter((attempt) => attempt.forwarded).length, 0, 'no blocked attempt reached the app');
  return firstBlocked;
}

/**
 * Check that two gateways that took turns judging the attack blocked it on the combined
 * count, which neither reached alone, and that Redis judged every login.
 */
export async function checkSharedBlock(t: Test, [first, second]: [TestGateway, TestGateway], attempts: Attempt[]): Promise<void> {
  const firstBlocked = checkBlocked(t, attempts);
  // Each gateway alone judged about half the usernames, under the block's threshold of 10.
  const judgedByEach = Math.ceil((firstBlocked + 1) / 2);
  t.ok(judgedByEach < 10, `each gateway had judged ${judgedByEach} usernames when the block came`);
  const blocker = firstBlocked % 2 === 0 ? first : second;
  const lines = await waitForDecisions(blocker.logs, Math.floor(firstBlocked / 2) + 1);
  const blockLine = lines[Math.floor(firstBlocked / 2)];
  t.equal(blockLine.riskgate.decision, 'block');
  t.ok(blockLine.riskgate.counters.usernames_per_ip >= 10, 'the block read the combined count');
  for (const gateway of [first, second]) {
    t.equal(gateway.logs.decisions.filter((line) => line.riskgate.store !== 'redis').length, 0, 'judged by Redis, no fallback');
  }
}

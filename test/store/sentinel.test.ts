import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import t, { type Test } from 'tap';

import { startFleet, type Fleet } from '../helpers/fleet.js';
import { login } from '../helpers/gateway.js';
import { redisStoreOf } from '../helpers/redis.js';
import { missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { command, startSentinel, type TestSentinel } from '../helpers/redis-topologies.js';
import { OWNER, checkSharedBlock, stuff } from '../helpers/stuffing.js';
import { loginDecision, waitFor } from '../helpers/wait.js';

const MASTER_NAME = 'riskgate-test';
/** Store timeout, generous so that a busy machine never makes a test fall back to memory. */
const STORE_TIMEOUT_MS = 1000;
/** Maximum wait for the gateway to move to the new master after a failover. */
const SWITCH_DEADLINE_MS = 5000;

const skip = missingRedisServer();
let sentinel: TestSentinel;

if (!skip) {
  const directory = temporaryDirectory('sentinel');
  t.before(async () => {
    sentinel = await startSentinel(directory.path, MASTER_NAME);
  });
  t.teardown(async () => {
    await sentinel?.stop();
    directory.remove();
  });
}

/** Start `count` gateways that find the master through the test sentinel. */
function startGateways(t: Test, count: number): Promise<Fleet> {
  const store = { sentinels: [`127.0.0.1:${sentinel.sentinel.port}`], sentinel_name: MASTER_NAME, timeout: `${STORE_TIMEOUT_MS}ms` };
  return startFleet(t, store, Array.from({ length: count }, () => ({})));
}

/** Keys under `prefix:` on the server at `port`. */
async function keysOn(port: number, prefix: string): Promise<string[]> {
  return (await command(port, 'KEYS', `${prefix}:*`)) as string[];
}

t.test('two gateways through Sentinel share counts', { skip }, async (t) => {
  const { gateways, upstream, prefix } = await startGateways(t, 2);

  const attempts = await stuff(gateways, upstream);

  await checkSharedBlock(t, [gateways[0], gateways[1]], attempts);
  const owner = await login(gateways[1].port, 'alice', 'wonderland', { source: OWNER });
  t.equal(owner.status, 200, 'alice from another address still logs in');
  t.ok((await keysOn(await sentinel.masterPort(), prefix)).length > 0, 'the counters live on the master the sentinel names');
});

t.test('Sentinel failover moves to the new master', { skip }, async (t) => {
  const { gateways } = await startGateways(t, 1);
  const gateway = gateways[0];
  const failedLogin = () => loginDecision(gateway, 'carol', 'wrong');

  for (let index = 0; index < 3; index += 1) await failedLogin();
  const oldMaster = await sentinel.masterPort();
  await command(sentinel.sentinel.port, 'SENTINEL', 'FAILOVER', MASTER_NAME);
  await waitFor(async () => (await sentinel.masterPort()) !== oldMaster, 'the sentinel to name a new master', 10_000);
  const newMaster = await sentinel.masterPort();

  // The gateway reconnects when the sentinel announces the switch, which comes a moment
  // after the sentinel first names the new master. Calls during the switch may fail, and
  // the logins after them fall back to memory for a second.
  const client = redisStoreOf(gateway).client as Redis;
  const switched = (entry: Record<string, any>) =>
    entry.riskgate.store === 'redis' && !gateway.context.store.inOutage && client.stream?.remotePort === newMaster;
  const started = Date.now();
  let line = await failedLogin();
  while (!switched(line) && Date.now() - started < SWITCH_DEADLINE_MS) {
    await sleep(50);
    line = await failedLogin();
  }
  const outages = (message: string) => gateway.logs.lines.filter((entry) => entry.message === message).length;

  t.equal(line.riskgate.store, 'redis', 'logins are judged by Redis again');
  t.ok(line.riskgate.counters.failures_per_account >= 3, 'the failures counted before the failover were kept');
  t.equal(outages('store outage started'), outages('store outage ended'), 'every outage that started has ended');
  t.equal(client.stream?.remotePort, newMaster, 'the gateway is connected to the new master');
});

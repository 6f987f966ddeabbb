import { randomBytes } from 'node:crypto';

import t, { type Test } from 'tap';

import { REDIS_URL, login, startTestGateway, type Reply, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { ADMIN_TOKEN, admin, curlLogin } from './client.js';

/** Blocks sent at once, spread over the gateways. */
const PARALLEL_ADDS = 60;
/** Allows that are removed among the blocks' adds, one after every tenth add. */
const ALLOWED_NETWORKS = Array.from({ length: 5 }, (_, index) => `127.0.${200 + index}.0/24`);
const allowedAddress = (network: string) => network.replace(/0\/24$/, '1');

/** The /24 network of the block with this index, and an address in it. */
const blockedNetwork = (index: number) => `127.0.${10 + index}.0/24`;
const blockedAddress = (index: number) => `127.0.${10 + index}.1`;

function addEntry(gateway: TestGateway, body: Record<string, unknown>) {
  return admin(gateway.adminPort, 'POST', '/v1/manual-entries', { body: { ttl: '10m', reason: 'test', ...body } });
}

async function startGateways(t: Test, store: 'redis' | 'memory'): Promise<TestGateway[]> {
  const prefix = `rgtr${randomBytes(4).toString('hex')}`;
  const upstream = await new RecordingUpstream().start();
  const gateways: TestGateway[] = [];
  t.teardown(async () => {
    for (const gateway of gateways) await gateway.close();
    await upstream.stop();
    if (store === 'redis') await deleteKeysWithPrefix(prefix);
  });
  for (let index = 0; index < (store === 'redis' ? 2 : 1); index += 1) {
    gateways.push(await startTestGateway({
      upstream: upstream.url,
      config: {
        store: { url: store === 'redis' ? REDIS_URL : 'memory', key_prefix: prefix, timeout: '500ms' },
        admin: { token: ADMIN_TOKEN },
      },
    }));
  }
  return gateways;
}

/**
 * Add PARALLEL_ADDS blocks at once, spread over the gateways, and remove earlier allows on
 * the first gateway in among them. Then check that every change is listed and applied on
 * every gateway.
 */
async function raceEdits(t: Test, gateways: TestGateway[]): Promise<void> {
  const last = gateways.at(-1)!;
  for (const network of ALLOWED_NETWORKS) {
    t.equal((await addEntry(gateways[0], { action: 'allow', cidr: network })).status, 201);
  }
  t.equal((await curlLogin(last.port, allowedAddress(ALLOWED_NETWORKS[0]))).status, 200, 'an allow lets a tool through first');

  const gatewayOf = (index: number) => gateways[index % gateways.length];
  const adds: Promise<Reply>[] = [];
  const removals: Promise<Reply>[] = [];
  for (let index = 0; index < PARALLEL_ADDS; index += 1) {
    adds.push(addEntry(gatewayOf(index), { action: 'block', cidr: blockedNetwork(index) }));
    const network = ALLOWED_NETWORKS[index / 10];
    if (index % 10 === 0 && network !== undefined) {
      removals.push(admin(gateways[0].adminPort, 'DELETE', `/v1/manual-entries/${encodeURIComponent(`cidr:${network}`)}`));
    }
  }
  const addReplies = await Promise.all(adds);
  const removalReplies = await Promise.all(removals);

  t.same(addReplies.map((reply) => reply.status), adds.map(() => 201), 'every add answered 201');
  t.same(removalReplies.map((reply) => reply.status), removals.map(() => 200), 'every removal answered 200');

  const expected = Array.from({ length: PARALLEL_ADDS }, (_, index) => `cidr:${blockedNetwork(index)}`).sort();
  for (const [position, gateway] of gateways.entries()) {
    const listed = (await admin(gateway.adminPort, 'GET', '/v1/manual-entries')).json().entries as { id: string }[];
    t.same(listed.map((entry) => entry.id).sort(), expected, `gateway ${position + 1} lists every block and no allow`);
  }

  const statuses = [];
  for (let index = 0; index < PARALLEL_ADDS; index += 1) {
    statuses.push((await login(gatewayOf(index + 1).port, 'alice', 'wonderland', { source: blockedAddress(index) })).status);
  }
  t.same(statuses, statuses.map(() => 403), 'every block applies');
  for (const gateway of gateways) {
    const tools = [];
    for (const network of ALLOWED_NETWORKS) tools.push((await curlLogin(gateway.port, allowedAddress(network))).status);
    t.same(tools, tools.map(() => 401), 'every removed allow stays removed');
  }
}

t.test('parallel edits on two gateways sharing Redis all stay in the list', async (t) => {
  await raceEdits(t, await startGateways(t, 'redis'));
});

t.test('parallel edits on one gateway with the memory store all stay in the list', async (t) => {
  await raceEdits(t, await startGateways(t, 'memory'));
});

t.test('a lone surrogate in a reason gets 400', async (t) => {
  const [gateway] = await startGateways(t, 'redis');
  const reply = await admin(gateway.adminPort, 'POST', '/v1/manual-entries',
    { raw: '{"action":"block","ip":"192.0.2.1","ttl":"10m","reason":"spam \\ud800"}' });
  const emoji = await addEntry(gateway, { action: 'block', ip: '192.0.2.2', reason: 'spam \u{1F600} a/b' });

  t.equal(reply.status, 400);
  t.match(reply.json().detail, /reason contains an unpaired UTF-16 surrogate; send valid Unicode/);
  t.equal(emoji.status, 201, 'a surrogate pair is valid Unicode');
  const listed = (await admin(gateway.adminPort, 'GET', '/v1/manual-entries')).json().entries;
  t.same(listed.map((entry: { reason: string }) => entry.reason), ['spam \u{1F600} a/b'], 'and keeps its text in the list');
});

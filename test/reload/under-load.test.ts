import { randomBytes } from 'node:crypto';

import t from 'tap';

import { REDIS_URL, login } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { EXPECTED, FileTree, SET_A, SET_B, reloadCounts, reloadLines, startReloadingGateway, waitForReload } from './helpers.js';

/** Clients sending logins back to back, each on a fresh connection. */
const CLIENTS = 12;
/** Times the rule file is rewritten while the clients run; every third write is invalid. */
const WRITES = 12;

t.test('reload under load loses no login and mixes no sets', async (t) => {
  const tree = new FileTree();
  tree.replace('rules/policy.yaml', SET_A);
  const upstream = await new RecordingUpstream().start();
  // Redis puts a real round trip between a login's arrival, when it takes the policy in
  // force, and its scoring, so reloads land while logins are in between.
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const gateway = await startReloadingGateway(tree, upstream.url, `store: { url: ${JSON.stringify(REDIS_URL)}, key_prefix: ${prefix}, timeout: 500ms }`);
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    tree.remove();
    await deleteKeysWithPrefix(prefix);
  });

  const statuses = new Map<string, number>();
  const failures: string[] = [];
  let running = true;
  const client = async (id: number) => {
    for (let index = 0; running; index += 1) {
      const username = `client${id}-login${index}`;
      try {
        statuses.set(username, (await login(gateway.port, username, 'wonderland')).status);
      } catch (error) {
        failures.push(`${username}: ${(error as Error).message}`);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, id) => client(id));

  // Alternate the sets, with an invalid file every third write. Each write waits for its
  // reload line, so both sets serve logins in turn while the clients keep sending.
  const versions = { a: gateway.context.rules.current.version, b: '' };
  let successes = 0;
  let rejections = 0;
  for (let write = 1; write <= WRITES; write += 1) {
    const decided = gateway.logs.decisions.length;
    await waitFor(() => gateway.logs.decisions.length >= decided + CLIENTS, 'logins between two writes', 5000);
    if (write % 3 === 0) {
      tree.replace('rules/policy.yaml', SET_B.replace('score: 30', 'score: thirty'));
      rejections += 1;
      await waitForReload(gateway.logs, 'failure', rejections);
      continue;
    }
    const next = successes % 2 === 0 ? SET_B : SET_A;
    tree.replace('rules/policy.yaml', next);
    successes += 1;
    const line = await waitForReload(gateway.logs, 'success', successes);
    if (next === SET_B) versions.b = line.riskgate.rule_set;
  }
  running = false;
  await Promise.all(clients);
  const decisions = await waitForDecisions(gateway.logs, statuses.size);

  t.same(failures, [], 'every login got a reply');
  t.equal(decisions.length, statuses.size, 'one decision line per login');
  t.not(versions.b, '');
  t.not(versions.a, versions.b);

  const counts = { a: 0, b: 0 };
  const mixed: string[] = [];
  for (const line of decisions) {
    const username = line.user.name as string;
    let set: 'a' | 'b';
    if (line.riskgate.rule_set === versions.a) {
      set = 'a';
    } else if (line.riskgate.rule_set === versions.b) {
      set = 'b';
    } else {
      mixed.push(`${username}: unknown rule set ${line.riskgate.rule_set}`);
      continue;
    }
    counts[set] += 1;
    const expected = EXPECTED[set];
    const seen = {
      rules: line.riskgate.rules.join(','),
      decision: line.riskgate.decision,
      counters: Object.keys(line.riskgate.counters).join(','),
      status: statuses.get(username),
    };
    const required = { rules: expected.rules.join(','), decision: expected.decision, counters: expected.counter, status: expected.status };
    if (JSON.stringify(seen) !== JSON.stringify(required)) mixed.push(`${username} under set ${set}: ${JSON.stringify(seen)}`);
  }

  t.same(mixed, [], 'each decision line matches the one set it names');
  t.ok(inFlightAcrossReloads(gateway.logs.lines) > 0, 'some logins were in flight during a reload');
  t.ok(counts.a > CLIENTS, `set A scored ${counts.a} logins`);
  t.ok(counts.b > CLIENTS, `set B scored ${counts.b} logins`);
  t.equal(reloadLines(gateway.logs, 'success').length, successes);
  t.same(await reloadCounts(gateway.adminPort), { success: successes, failure: rejections });
  t.equal(upstream.logins.length, [...statuses.values()].filter((status) => status === 200).length,
    'every allowed login reached the app, and no challenged one did');
});

/**
 * Count decision lines logged after a reload line but scored by the set that reload
 * replaced: logins that arrived before the reload and finished after it.
 */
function inFlightAcrossReloads(lines: Record<string, any>[]): number {
  let replaced: string | undefined;
  let count = 0;
  for (const line of lines) {
    if (line.event?.action === 'rules-reload' && line.event.outcome === 'success') replaced = line.riskgate.previous_rule_set;
    else if (line.message === 'login decision' && line.riskgate.rule_set === replaced) count += 1;
  }
  return count;
}

import t, { type Test } from 'tap';

import { REDIS_URL, login, startTestGateway } from '../helpers/gateway.js';
import { startFleet } from '../helpers/fleet.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

/** Make an app take 200 ms to reject every login, so a burst is in flight all at once. */
function rejectSlowly(upstream: RecordingUpstream): void {
  upstream.responder = (received, response) => {
    if (received.method !== 'POST') return false;
    setTimeout(() => {
      response.writeHead(401, { 'content-type': 'application/json', 'content-length': '12' });
      response.end('{"ok":false}');
    }, 200);
    return true;
  };
}

async function slowApp(t: Test) {
  const upstream = await new RecordingUpstream().start();
  rejectSlowly(upstream);
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

t.test('parallel guesses on one account stop at the account limit', async (t) => {
  const { upstream, gateway } = await slowApp(t);

  const replies = await Promise.all(
    Array.from({ length: 40 }, (_, index) => login(gateway.port, 'alice', `guess-${index}`, { source: `127.0.4.${index + 1}` })),
  );

  t.ok(upstream.logins.length <= 5, `at most five guesses reached the app (${upstream.logins.length})`);
  t.ok(replies.filter((reply) => reply.status === 401).length === 40, 'every guess was refused or challenged');
  const decisions = await waitForDecisions(gateway.logs, 40);
  t.ok(decisions.filter((line) => line.riskgate.decision === 'challenge').length >= 35, 'the rest were challenged');
});

t.test('parallel guesses across a fleet stop at the account limit', async (t) => {
  // Three gateways on one Redis: each counts the logins pending on the others.
  const { gateways, upstream, prefix } = await startFleet(t, { url: REDIS_URL }, [{}, {}, {}]);
  t.teardown(() => deleteKeysWithPrefix(prefix));
  rejectSlowly(upstream);

  const replies = await Promise.all(Array.from({ length: 45 }, (_, index) =>
    login(gateways[index % 3].port, 'alice', `guess-${index}`, { source: `127.0.5.${index + 1}` })));

  t.ok(upstream.logins.length <= 5, `at most five guesses reached the app (${upstream.logins.length})`);
  t.equal(replies.filter((reply) => reply.status === 401).length, 45, 'every guess was refused or challenged');
  const decisions = (await Promise.all(gateways.map((gateway) => waitForDecisions(gateway.logs, 15)))).flat();
  t.ok(decisions.filter((line) => line.riskgate.decision === 'challenge').length >= 40, 'the rest were challenged');
});

t.test('parallel stuffing from one address stops at the username limit', async (t) => {
  const { upstream, gateway } = await slowApp(t);

  const replies = await Promise.all(
    Array.from({ length: 40 }, (_, index) => login(gateway.port, `victim${index}`, 'guess', { source: '127.0.7.1' })),
  );

  // stuffing.usernames-per-ip-rising challenges once five other accounts were tried from
  // the address, as it would if the logins came one after another.
  t.ok(upstream.logins.length <= 5, `at most five accounts reached the app (${upstream.logins.length})`);
  t.equal(replies.length, 40);
  const decisions = await waitForDecisions(gateway.logs, 40);
  const stopped = decisions.filter((line) => line.riskgate.decision !== 'allow').length;
  t.ok(stopped >= 35, `the rest were challenged or blocked (${stopped})`);
  t.ok(decisions.some((line) => line.riskgate.decision === 'block'), 'the burst reached a block');
});

t.test('in-flight marks are released after the outcome', async (t) => {
  const { gateway } = await slowApp(t);

  await Promise.all(Array.from({ length: 3 }, () => login(gateway.port, 'bob', 'x', { source: '127.0.6.1' })));
  await waitForDecisions(gateway.logs, 3);
  await login(gateway.port, 'bob', 'x', { source: '127.0.6.1' });
  const decisions = await waitForDecisions(gateway.logs, 4);

  t.equal(decisions[3].riskgate.counters.failures_per_account, 3, 'the next login sees the three written failures only');
  t.equal(decisions[3].riskgate.counters.attempts_per_ip, 3);
});

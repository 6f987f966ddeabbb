import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { login, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)';
const HEADLESS_CHROME = `${CHROME} HeadlessChrome/120.0.0.0 Safari/537.36`;

// `(?i)` is RE2's inline case-insensitive flag, which JavaScript RegExp rejects.
const HEADLESS_RULES = `
thresholds: { challenge_at: 50, block_at: 100 }
rules:
  - id: test.headless
    description: Headless browsers are refused
    when: ua.browser.matches("(?i)headless")
    action: block
`;

// A backtracking engine takes time exponential in the digits before the final "a": each
// further digit doubles it. Behind Node 20's RegExp, one login with 30 digits held a test
// gateway for 92 s on a busy 2-core machine.
const NESTED_REPEAT_RULES = `
thresholds: { challenge_at: 50, block_at: 100 }
rules:
  - id: test.odd-version
    description: Browser versions that are not dotted numbers are refused
    when: '!ua.browser_version.matches("^([0-9]+\\\\.?)+$")'
    action: block
`;

async function gatewayWithRules(t: Test, rules: string): Promise<TestGateway> {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-matches-'));
  writeFileSync(join(directory, 'rules.yaml'), rules);
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { rules: [directory] } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    rmSync(directory, { recursive: true, force: true });
  });
  return gateway;
}

t.test('matches reads (?i) as case-insensitive', async (t) => {
  const gateway = await gatewayWithRules(t, HEADLESS_RULES);

  const headless = await login(gateway.port, 'alice', 'wonderland', { headers: { 'user-agent': HEADLESS_CHROME } });
  const browser = await login(gateway.port, 'bob', 'wonderland', { source: '127.0.0.2' });
  const [headlessLine, browserLine] = await waitForDecisions(gateway.logs, 2);

  t.equal(headless.status, 403, 'the headless login is blocked');
  t.same(headlessLine.riskgate.rules, ['test.headless']);
  t.same(headlessLine.riskgate.error_rules, [], 'the condition evaluated without an error');
  t.equal(browser.status, 200, 'the ordinary browser login gets in');
  t.same(browserLine.riskgate.rules, []);
});

t.test('nested repeat does not stall other logins', async (t) => {
  const gateway = await gatewayWithRules(t, NESTED_REPEAT_RULES);
  const crafted = `${CHROME} Chrome/${'1'.repeat(28)}a Safari/537.36`;
  const started = performance.now();

  const timed = async (reply: ReturnType<typeof login>) => {
    const { status } = await reply;
    return { status, ms: performance.now() - started };
  };
  const [attack, normal] = await Promise.all([
    timed(login(gateway.port, 'mallory', 'x', { headers: { 'user-agent': crafted } })),
    timed(login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.2' })),
  ]);
  const lines = await waitForDecisions(gateway.logs, 2);
  const attackLine = lines.find((line) => line.user_agent.original === crafted);

  t.equal(attack.status, 403, 'the crafted version is not a dotted number, so the rule blocks it');
  t.same(attackLine?.riskgate.rules, ['test.odd-version']);
  t.equal(normal.status, 200, 'the concurrent normal login gets in');
  // A backtracking match of 28 digits blocked the event loop for about 15 s here. A linear
  // one takes well under a millisecond, so 1 s leaves a loaded machine room.
  t.ok(normal.ms < 1000, `the normal login was answered in ${Math.round(normal.ms)} ms`);
  t.ok(attack.ms < 1000, `the crafted login was answered in ${Math.round(attack.ms)} ms`);
});

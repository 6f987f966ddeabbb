import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { login, send, startTestGateway } from '../helpers/gateway.js';
import { FakeClock } from '../helpers/clock.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import { parseMetrics } from '../admin/client.js';
import { checkLine } from '../ops/ecs.js';

// double() accepts "128.0" but not a version with more than one dot, such as "90.0.4430.93".
const RULES = `
thresholds: { challenge_at: 50, block_at: 100 }
rules:
  - id: test.old-browser
    description: Browsers before version 100 are refused
    when: double(ua.browser_version) < 100.0
    action: block
  - id: test.short-name
    description: Short usernames are watched
    when: user.length < 3
    score: 10
`;

const OLD_CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36';

t.test('failing rule shows in logs and metrics', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-rule-errors-'));
  writeFileSync(join(directory, 'rules.yaml'), RULES);
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, clock: clock.read, config: { rules: [directory] } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    rmSync(directory, { recursive: true, force: true });
  });
  const oldChrome = { headers: { 'user-agent': OLD_CHROME } };

  for (let index = 0; index < 3; index += 1) {
    const reply = await login(gateway.port, `carol${index}`, 'wonderland', oldChrome);
    t.equal(reply.status, 200, `login ${index + 1} is allowed, because the failing rule does not fire`);
  }
  await login(gateway.port, 'dave', 'wonderland');
  const lines = await waitForDecisions(gateway.logs, 4);

  for (const line of lines.slice(0, 3)) {
    t.same(line.riskgate.error_rules, ['test.old-browser'], 'the decision line names the failed rule');
    t.same(line.riskgate.rules, [], 'the failed rule is not among the fired ones');
  }
  t.same(lines[3].riskgate.error_rules, [], 'a modern browser fails no rule');

  const warnings = gateway.logs.lines.filter((line) => line.event?.action === 'rule-error');
  t.equal(warnings.length, 1, 'three failures within a minute give one warn line');
  const [warning] = warnings;
  t.equal(warning.log.level, 'warn');
  t.equal(warning.rule.name, 'test.old-browser');
  t.equal(warning.riskgate.rule_error.code, 'double_conversion_error');
  t.equal(warning.riskgate.rule_error.line, 4, 'the line where the rule starts in its file');
  t.equal(warning.riskgate.rule_error.suppressed, 0);
  t.equal(warning.http.request.id, lines[0].http.request.id, 'the line names the first failed login');
  t.match(warning.message, /^rule "test\.old-browser" failed at run time with double_conversion_error/);
  const text = JSON.stringify(warning);
  t.notOk(text.includes('90.0.4430.93'), 'the browser version is not in the warn line');
  t.notOk(text.includes('carol'), 'the username is not in the warn line');
  t.same(checkLine(warning), [], 'the warn line uses only listed fields');

  const metrics = parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body);
  t.equal(metrics.get('riskgate_rule_errors_total{rule="test.old-browser"}'), 3);
  t.equal(metrics.get('riskgate_rule_errors_total{rule="test.short-name"}'), undefined, 'a rule that never failed has no series');

  clock.advance(61_000);
  await login(gateway.port, 'erin', 'wonderland', oldChrome);
  await waitForDecisions(gateway.logs, 5);
  const later = gateway.logs.lines.filter((line) => line.event?.action === 'rule-error');

  t.equal(later.length, 2, 'a failure after the minute gets a new line');
  t.equal(later[1].riskgate.rule_error.suppressed, 2, 'the new line counts the two failures that had none');
  t.match(later[1].message, /2 more failure\(s\) of this rule were not logged/);
});

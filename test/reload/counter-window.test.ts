import t from 'tap';

import { login } from '../helpers/gateway.js';
import { startRedisReloadingGateway, waitForReload } from './helpers.js';

/** Build a rule set with one attempts counter per address; `score` changes a rule but not the counter. */
function policy(window: string, key = 'ip', score = 60): string {
  return `thresholds: { challenge_at: 50, block_at: 100 }
counters:
  - { name: per_source, key: [${key}], count: attempts, window: ${window} }
rules:
  - id: busy-source
    description: Many logins from one source
    when: counters.per_source > 1000
    score: ${score}
`;
}

t.test('counter change warns on reload', async (t) => {
  const { prefix, tree, gateway } = await startRedisReloadingGateway(t, policy('10m'));

  for (let attempt = 0; attempt < 3; attempt += 1) await login(gateway.port, 'alice', 'wrong');
  await login(gateway.port, 'alice', 'wonderland');
  t.equal(gateway.logs.decisions.at(-1)?.riskgate.counters.per_source, 3, 'the fourth login reads three attempts');

  tree.replace('rules/policy.yaml', policy('1h'));
  const reloaded = await waitForReload(gateway.logs, 'success', 1);
  t.equal(reloaded.log.level, 'warn', 'the reload line is a warning');
  t.match(reloaded.message, /1 warning\(s\), listed in riskgate\.reload\.warnings$/);
  const warnings: string[] = reloaded.riskgate.reload.warnings;
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0], /policy\.yaml:3:\d+: counter "per_source" changed \(window 10m -> 1h\), so its counts start again from zero/);

  await login(gateway.port, 'alice', 'wonderland');
  t.equal(gateway.logs.decisions.at(-1)?.riskgate.counters.per_source, 0, 'the warning is true: the count started again');

  tree.replace('rules/policy.yaml', policy('1h', 'ip', 70));
  const ruleOnly = await waitForReload(gateway.logs, 'success', 2);
  t.notOk(ruleOnly.riskgate.reload.warnings, 'a reload that changes only a rule warns about no counter');

  tree.replace('rules/policy.yaml', policy('1h', 'ip_prefix', 70));
  const rekeyed = await waitForReload(gateway.logs, 'success', 3);
  t.match(rekeyed.riskgate.reload.warnings?.[0], /counter "per_source" changed \(key \[ip\] -> \[ip_prefix\]\)/);
});

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

import t from 'tap';

import { runReplay } from '../../src/cli/replay.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import type { Decision } from '../../src/rules/types.js';
import type { LoginEvent } from '../../src/replay/event.js';
import { EventReader } from '../../src/replay/read-events.js';
import { replayEvents, type ReplayResult, type ReplaySummary } from '../../src/replay/replay.js';
import { DEFAULT_USERNAME_NORMALIZATION } from '../../src/request/username.js';
import { captureOutput, writeTree } from './io.js';
import { labelledLog, recordTraffic } from './traffic.js';

const FIXTURE_RULES = resolve(import.meta.dirname, 'fixtures', 'replay-rules.yaml');
const READ_OPTIONS = { csv: { username: DEFAULT_USERNAME_NORMALIZATION, defaultRoute: 'route-1', challengeMode: 'step-up' as const } };

const traffic = await recordTraffic(FIXTURE_RULES);
const tree = writeTree({ 'decisions.log': labelledLog(traffic) });
writeFileSync(tree.path('decisions.log.gz'), gzipSync(readFileSync(tree.path('decisions.log'))));
t.teardown(tree.remove);

async function replayFile(file: string, rulePath: string): Promise<{ summary: ReplaySummary; results: [LoginEvent, ReplayResult][] }> {
  const reader = new EventReader([file], READ_OPTIONS);
  const results: [LoginEvent, ReplayResult][] = [];
  const summary = await replayEvents(reader.events(), {
    ruleSet: loadRuleSet([rulePath]),
    onEvent: (event, result) => results.push([event, result]),
  });
  return { summary, results };
}

function countDecisions(decisions: Decision[]): Record<Decision, number> {
  const counts = { allow: 0, challenge: 0, block: 0 };
  for (const decision of decisions) counts[decision] += 1;
  return counts;
}

t.test('recorded traffic exercises every decision', async (t) => {
  const counts = countDecisions(traffic.decisions.map((line) => line.riskgate.decision));

  t.equal(traffic.decisions.length, 115, 'one decision line per scripted login');
  t.ok(counts.allow > 0, 'some logins allowed');
  t.ok(counts.challenge > 0, 'some logins challenged');
  t.ok(counts.block > 0, 'some logins blocked');
  t.ok(traffic.decisions.some((line) => line.device?.id), 'device pseudonyms logged');
  t.ok(traffic.decisions.some((line) => line.riskgate.counters.attempts_per_device > 0), 'device counter used live');
});

t.test('device id in the log is a pseudonym', async (t) => {
  const line = traffic.decisions.find((entry) => entry.device?.id);

  t.match(line?.device.id, /^[0-9a-f]{32}$/);
  t.notOk(traffic.logText.includes('rg_device='), 'no cookie value in the log');
});

t.test('replay under unchanged rules reproduces every decision', async (t) => {
  const { summary, results } = await replayFile(tree.path('decisions.log'), FIXTURE_RULES);

  t.equal(summary.events, traffic.decisions.length);
  t.equal(summary.changed, 0);
  t.equal(summary.counterMismatches, 0, summary.counterMismatchExamples.join('\n'));
  t.equal(summary.outOfOrder, 0);
  results.forEach(([event, result], index) => {
    const live = traffic.decisions[index].riskgate;
    t.equal(result.decision, live.decision, `${event.origin} decision`);
    t.equal(result.score, live.score, `${event.origin} score`);
    t.same(result.rules, live.rules, `${event.origin} rules`);
    t.same(result.counters, live.counters, `${event.origin} counters`);
  });
  const counts = countDecisions(traffic.decisions.map((line) => line.riskgate.decision));
  t.same(summary.matrix, {
    allow: { allow: counts.allow, challenge: 0, block: 0 },
    challenge: { allow: 0, challenge: counts.challenge, block: 0 },
    block: { allow: 0, challenge: 0, block: counts.block },
  });
});

t.test('gzip log replays the same', async (t) => {
  const plain = await replayFile(tree.path('decisions.log'), FIXTURE_RULES);
  const gzip = await replayFile(tree.path('decisions.log.gz'), FIXTURE_RULES);

  t.same(gzip.summary.matrix, plain.summary.matrix);
  t.equal(gzip.summary.events, plain.summary.events);
  t.same(gzip.results.map(([, result]) => result.counters), plain.results.map(([, result]) => result.counters));
});

t.test('lower block threshold changes stuffing challenges to blocks', async (t) => {
  const text = readFileSync(FIXTURE_RULES, 'utf8');
  const changed = text
    .replace('when: counters.usernames_per_ip >= 10', 'when: counters.usernames_per_ip >= 8')
    .replace('counters.usernames_per_ip >= 5 && counters.usernames_per_ip < 10', 'counters.usernames_per_ip >= 5 && counters.usernames_per_ip < 8');
  t.not(changed, text);
  const rules = writeTree({ 'rules.yaml': changed });
  t.teardown(rules.remove);
  const expected = traffic.decisions.filter((line) =>
    [8, 9].includes(line.riskgate.counters.usernames_per_ip) && line.riskgate.decision === 'challenge').length;

  const { summary } = await replayFile(tree.path('decisions.log'), rules.path('rules.yaml'));

  t.equal(expected, 2, 'the stuffing run crosses 8 and 9 usernames once each');
  t.equal(summary.changed, expected);
  t.equal(summary.matrix.challenge.block, expected);
  t.equal(summary.matrix.challenge.allow, 0);
  t.equal(summary.matrix.allow.challenge + summary.matrix.allow.block + summary.matrix.block.allow + summary.matrix.block.challenge, 0);
  t.same(summary.rules, [
    { id: 'stuffing.usernames-per-ip', nowFires: 2, noLongerFires: 0 },
    { id: 'stuffing.usernames-per-ip-rising', nowFires: 0, noLongerFires: 2 },
  ]);
  t.equal(summary.labels.attack.stoppedAfter, summary.labels.attack.stoppedBefore);
  t.equal(summary.labels.attack.blockedAfter - 2, traffic.decisions.filter((line, index) =>
    traffic.labels[index] === 'attack' && line.riskgate.decision === 'block').length);
});

t.test('higher challenge threshold lets score-only challenges through', async (t) => {
  const text = readFileSync(FIXTURE_RULES, 'utf8');
  const changed = text.replace('  challenge_at: 50', '  challenge_at: 60');
  t.not(changed, text);
  const rules = writeTree({ 'rules.yaml': changed });
  t.teardown(rules.remove);
  const ruleSet = loadRuleSet([rules.path('rules.yaml')]);
  const actions = new Map(ruleSet.rules.map((rule) => [rule.id, rule.action]));
  // A challenge by score alone, below the new threshold, becomes an allow; nothing those
  // logins teach the counters changes, because a login stopped live has no known outcome.
  const becomesAllow = (line: Record<string, any>) =>
    line.riskgate.decision === 'challenge' && line.riskgate.score < 60 && line.riskgate.rules.every((id: string) => !actions.get(id));

  const { summary, results } = await replayFile(tree.path('decisions.log'), rules.path('rules.yaml'));

  const expected = traffic.decisions.map((line) => (becomesAllow(line) ? 'allow' : line.riskgate.decision));
  t.same(results.map(([, result]) => result.decision), expected);
  t.ok(summary.matrix.challenge.allow > 0, 'some challenges become allows');
  t.equal(summary.changed, summary.matrix.challenge.allow);
  const legitimate = traffic.decisions.filter((line, index) => traffic.labels[index] === 'legitimate');
  t.equal(summary.labels.legitimate.total, legitimate.length);
  t.equal(summary.labels.legitimate.stoppedBefore, legitimate.filter((line) => line.riskgate.decision !== 'allow').length);
  t.equal(summary.labels.legitimate.stoppedAfter, legitimate.filter((line) => line.riskgate.decision !== 'allow' && !becomesAllow(line)).length);
  t.ok(summary.labels.legitimate.stoppedAfter < summary.labels.legitimate.stoppedBefore, 'less friction for legitimate logins');
});

t.test('replay command prints the change matrix', async (t) => {
  const text = readFileSync(FIXTURE_RULES, 'utf8').replace('when: counters.usernames_per_ip >= 10', 'when: counters.usernames_per_ip >= 8')
    .replace('counters.usernames_per_ip >= 5 && counters.usernames_per_ip < 10', 'counters.usernames_per_ip >= 5 && counters.usernames_per_ip < 8');
  const rules = writeTree({ 'rules.yaml': text });
  t.teardown(rules.remove);
  const output = captureOutput();

  const status = await runReplay({ rules: rules.path('rules.yaml'), config: '/nonexistent/riskgate.yaml' }, [tree.path('decisions.log.gz')], output.io);

  t.equal(status, 1, 'an explicit config that does not exist is an error');
  t.match(output.out(), /config file not found/);

  const again = captureOutput();
  const previous = process.env.RISKGATE_CONFIG;
  delete process.env.RISKGATE_CONFIG;
  t.teardown(() => {
    if (previous !== undefined) process.env.RISKGATE_CONFIG = previous;
  });
  const ok = await runReplay({ rules: rules.path('rules.yaml') }, [tree.path('decisions.log.gz')], again.io);
  const lines = again.lines();

  t.equal(ok, 0);
  t.match(lines[0], /^replayed 115 logins from 1 file\(s\) under rule set [0-9a-f]{12} in [\d.]+ s \([\d,]+ logins\/s\)$/);
  t.equal(lines[1], 'decisions changed: 2 of 115 (1.7%)');
  t.match(lines[2], /^recorded \\ replayed +allow +challenge +block$/);
  t.match(lines[4], /^challenge +\d+ +\d+ +2$/);
  t.equal(lines[6], 'rules behind the changes:');
  t.equal(lines[7], '  stuffing.usernames-per-ip: fires now on 2');
  t.equal(lines[8], '  stuffing.usernames-per-ip-rising: no longer fires on 2');
  t.equal(lines[9], 'labelled logins (recorded -> replayed):');
  t.match(lines[10], /^ {2}attacks caught \(challenged or blocked\): [\d.]+% -> [\d.]+% of \d+ \([\d.]+% blocked\)$/);
  t.match(lines[11], /^ {2}legitimate logins with friction \(challenged or blocked\): /);
});

t.test('replay --json reports the summary', async (t) => {
  const output = captureOutput();

  const status = await runReplay({ rules: FIXTURE_RULES, json: true }, [tree.path('decisions.log')], output.io);
  const report = JSON.parse(output.out());

  t.equal(status, 0);
  t.equal(report.events, 115);
  t.equal(report.changed, 0);
  t.equal(report.counter_mismatches, 0);
  t.equal(report.input.invalid, 0);
  t.ok(report.events_per_second > 0);
});

t.test('replay rejects bad arguments and rules', async (t) => {
  const none = captureOutput();
  t.equal(await runReplay({ rules: FIXTURE_RULES }, [], none.io), 2);
  t.match(none.err(), /name at least one log or CSV file/);

  const missing = captureOutput();
  t.equal(await runReplay({ rules: FIXTURE_RULES }, ['/nonexistent.log'], missing.io), 1);
  t.equal(missing.err(), 'riskgate replay: input file not found: /nonexistent.log\n');

  const broken = writeTree({ 'rules.yaml': readFileSync(FIXTURE_RULES, 'utf8').replace('counters.attempts_per_ip >= 20', 'counters.attempts_per_ipp >= 20') });
  t.teardown(broken.remove);
  const invalid = captureOutput();
  t.equal(await runReplay({ rules: broken.path('rules.yaml') }, [tree.path('decisions.log')], invalid.io), 1);
  t.match(invalid.out(), /rules\.yaml:\d+:\d+: rule "velocity\.attempts-per-ip": invalid condition: unknown counter "attempts_per_ipp"/);
});

t.test('replay counts invalid and foreign lines', async (t) => {
  const lines = readFileSync(tree.path('decisions.log'), 'utf8').split('\n');
  const mixed = writeTree({
    'mixed.log': [
      '{"message":"riskgate started"}',
      '{"message":"login decision", truncated',
      '{"message":"login decision","riskgate":{"decision":"allow"}}',
      ...lines,
    ].join('\n'),
  });
  t.teardown(mixed.remove);
  const reader = new EventReader([mixed.path('mixed.log')], READ_OPTIONS);

  const summary = await replayEvents(reader.events(), { ruleSet: loadRuleSet([FIXTURE_RULES]) });

  t.equal(summary.events, 115);
  t.equal(summary.changed, 0);
  t.equal(reader.stats.invalid, 2);
  t.match(reader.stats.errors[0], /mixed\.log:2: not a JSON line$/);
  t.match(reader.stats.errors[1], /mixed\.log:3: invalid or missing event\.start and @timestamp/);
  t.ok(reader.stats.skipped >= 1, 'the start-up line is skipped');
});

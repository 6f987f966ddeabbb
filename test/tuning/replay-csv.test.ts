import { resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

import t from 'tap';

import { CsvParser, parseTimestamp } from '../../src/replay/csv.js';
import type { LoginEvent } from '../../src/replay/event.js';
import { EventReader } from '../../src/replay/read-events.js';
import { replayEvents, type ReplayResult } from '../../src/replay/replay.js';
import { syntheticLoginEvents } from '../../src/replay/synthetic.js';
import { DEFAULT_USERNAME_NORMALIZATION } from '../../src/request/username.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { evaluateRules } from '../../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../helpers/gateway.js';
import { writeTree } from './io.js';

const FIXTURE_RULES = resolve(import.meta.dirname, 'fixtures', 'replay-rules.yaml');
const READ_OPTIONS = { csv: { username: DEFAULT_USERNAME_NORMALIZATION, defaultRoute: 'web', challengeMode: 'step-up' as const } };
const BROWSER = '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"';
const START = Date.UTC(2025, 5, 1, 9, 0, 0);

/** A stuffing run of 12 accounts from one address, one row a second, among ordinary logins. */
function csvLog(): string {
  const rows = ['timestamp,ip,username,user_agent,outcome,label'];
  for (let index = 0; index < 12; index += 1) {
    const time = new Date(START + index * 1000).toISOString();
    rows.push(`${time},203.0.113.7,victim${index},${BROWSER},failure,attack`);
  }
  for (let index = 0; index < 6; index += 1) {
    // Unix seconds and milliseconds are accepted as well as ISO 8601.
    const time = index % 2 === 0 ? String((START + index * 1500) / 1000) : String(START + index * 1500);
    rows.push(`${time},198.51.100.${20 + index},User${index},${BROWSER},success,legitimate`);
  }
  return `${rows.join('\r\n')}\r\n`;
}

async function replayCsv(file: string): Promise<{ results: [LoginEvent, ReplayResult][]; summary: Awaited<ReturnType<typeof replayEvents>>; reader: EventReader }> {
  const reader = new EventReader([file], READ_OPTIONS);
  const results: [LoginEvent, ReplayResult][] = [];
  const summary = await replayEvents(reader.events(), {
    ruleSet: loadRuleSet([FIXTURE_RULES]),
    onEvent: (event, result) => results.push([event, result]),
  });
  return { results, summary, reader };
}

t.test('csv stuffing run is challenged then blocked', async (t) => {
  const tree = writeTree({ 'logins.csv': csvLog() });
  t.teardown(tree.remove);

  const { results, summary } = await replayCsv(tree.path('logins.csv'));
  const stuffing = results.filter(([event]) => event.parts.ip === '203.0.113.7').map(([, result]) => result.decision);

  t.equal(summary.events, 18);
  t.same(stuffing, ['allow', 'allow', 'allow', 'allow', 'allow', 'challenge', 'challenge', 'challenge', 'challenge', 'challenge', 'block', 'block']);
  t.same(summary.matrix.allow, { allow: 11, challenge: 5, block: 2 });
  t.same(summary.labels.attack, { total: 12, stoppedBefore: 0, stoppedAfter: 7, blockedAfter: 2 });
  t.same(summary.labels.legitimate, { total: 6, stoppedBefore: 0, stoppedAfter: 0, blockedAfter: 0 });
});

t.test('csv rows become signals and key parts', async (t) => {
  const tree = writeTree({ 'logins.csv': csvLog() });
  t.teardown(tree.remove);

  const { results } = await replayCsv(tree.path('logins.csv'));
  const [event, result] = results.find(([entry]) => entry.member === 'user3')!;

  t.equal(event.time, START + 3 * 1500);
  t.equal(event.signals.ua.browser, 'Firefox');
  t.equal(event.signals.ip.address, '198.51.100.23');
  t.equal(event.parts.ip_prefix, '198.51.100.0/24');
  t.equal(event.parts.route, 'web');
  t.equal(event.outcome, 'success');
  t.equal(result.learned, 'success');
  t.equal(result.counters.usernames_per_prefix, 3, 'three earlier accounts from the /24');
});

t.test('csv events are replayed in time order', async (t) => {
  const lines = csvLog().trimEnd().split('\r\n');
  const [header, ...rows] = lines;
  const shuffled = [header, rows[3], rows[0], rows[2], rows[1], ...rows.slice(4)].join('\n');
  const tree = writeTree({ 'logins.csv': `${shuffled}\n` });
  t.teardown(tree.remove);

  const { results, summary } = await replayCsv(tree.path('logins.csv'));
  const times = results.map(([event]) => event.time);

  t.same(times, [...times].sort((a, b) => a - b));
  t.equal(summary.outOfOrder, 0);
  t.same(summary.matrix.allow, { allow: 11, challenge: 5, block: 2 });
});

t.test('gzip csv and invalid rows', async (t) => {
  const broken = `${csvLog()}yesterday,203.0.113.9,x,${BROWSER},failure,attack\n2025-06-01T09:10:00Z,not-an-ip,x,,success,\n`;
  const tree = writeTree({});
  t.teardown(tree.remove);
  writeFileSync(tree.path('logins.csv.gz'), gzipSync(broken));

  const { summary, reader } = await replayCsv(tree.path('logins.csv.gz'));

  t.equal(summary.events, 18);
  t.equal(reader.stats.invalid, 2);
  t.match(reader.stats.errors[0], /logins\.csv\.gz:20: invalid timestamp "yesterday"; use ISO 8601 or Unix seconds or milliseconds$/);
  t.match(reader.stats.errors[1], /logins\.csv\.gz:21: invalid ip "not-an-ip"$/);
});

t.test('csv header must name timestamp and ip', async (t) => {
  const tree = writeTree({ 'a.csv': 'time,address\n1,2\n', 'b.csv': 'timestamp,ip,ua.automaton\n' });
  t.teardown(tree.remove);

  const missing = await replayCsv(tree.path('a.csv'));
  const unknown = await replayCsv(tree.path('b.csv'));

  t.equal(missing.summary.events, 0);
  t.match(missing.reader.stats.errors[0], /a\.csv:1: CSV header lacks the column\(s\) timestamp, ip/);
  t.match(unknown.reader.stats.errors[0], /b\.csv:1: CSV column "ua\.automaton" is not a signal/);
});

t.test('csv signal columns override derived signals', async (t) => {
  const text = `timestamp,ip,username,ua.automation,request.has_accept_language,decision\n${new Date(START).toISOString()},203.0.113.7,a,true,false,challenge\n`;
  const tree = writeTree({ 'logins.csv': text });
  t.teardown(tree.remove);

  const { results, summary } = await replayCsv(tree.path('logins.csv'));
  const [[event, result]] = results;

  t.equal(event.signals.ua.automation, true);
  t.equal(event.signals.request.has_accept_language, false);
  t.equal(event.recorded.decision, 'challenge');
  t.equal(event.forwarded, false, 'a step-up challenge never reached the app');
  t.same(result.rules, ['automation.tool-user-agent', 'automation.missing-browser-headers']);
  t.equal(summary.matrix.challenge.challenge, 1);
});

t.test('csv rows carry every signal group', async (t) => {
  const start = new Date(START).toISOString();
  const text = [
    'timestamp,ip,username,user_agent,account.first_login,account.known_country,travel.impossible,travel.speed_kmh',
    `${start},203.0.113.7,a,${BROWSER},,,,`,
    `${start},203.0.113.8,b,${BROWSER},false,true,true,2857.5`,
  ].join('\n');
  const tree = writeTree({ 'logins.csv': `${text}\n` });
  t.teardown(tree.remove);
  const ruleSet = loadRuleSet([DEFAULT_RULES]);
  const zero = Object.fromEntries(ruleSet.counters.map((counter) => [counter.name, 0n]));

  const reader = new EventReader([tree.path('logins.csv')], READ_OPTIONS);
  const events: LoginEvent[] = [];
  for await (const event of reader.events()) events.push(event);
  const [plain, travelled] = events.map((event) => evaluateRules(ruleSet, event.signals, zero));

  t.equal(reader.stats.invalid, 0);
  t.equal(events[0].signals.account.first_login, true, 'a row without account columns is a first login');
  t.equal(events[0].signals.travel.impossible, false);
  t.same(plain.outcomes.filter((outcome) => outcome.error).map((outcome) => outcome.rule.id), [], 'no rule fails to evaluate');
  t.equal(events[1].signals.travel.speed_kmh, 2857.5);
  t.same(travelled.fired, ['travel.impossible']);
  t.equal(travelled.decision, 'challenge');
});

t.test('csv parser handles quotes, commas and line breaks', async (t) => {
  const parser = new CsvParser();
  const records = [
    ...parser.push('a,"b, c","d ""quoted"""\r\n"multi\nline",'),
    ...parser.push('x\nlast'),
    ...parser.end(),
  ];

  t.same(records, [
    { fields: ['a', 'b, c', 'd "quoted"'], line: 1 },
    { fields: ['multi\nline', 'x'], line: 2 },
    { fields: ['last'], line: 4 },
  ]);
});

t.test('timestamps in three forms', async (t) => {
  t.equal(parseTimestamp('2025-06-01T09:00:00Z'), START);
  t.equal(parseTimestamp(String(START / 1000)), START);
  t.equal(parseTimestamp(String(START)), START);
  t.equal(parseTimestamp('soon'), undefined);
});

t.test('replay throughput sanity bound', async (t) => {
  const summary = await replayEvents(syntheticLoginEvents(50_000), { ruleSet: loadRuleSet([FIXTURE_RULES]) });

  t.equal(summary.events, 50_000);
  t.equal(summary.labels.attack.total + summary.labels.legitimate.total, 50_000);
  // A sanity bound only, far below the rate on any machine; bench/ reports the real rate.
  t.ok(summary.eventsPerSecond > 1_000, `${summary.eventsPerSecond} logins/s`);
});

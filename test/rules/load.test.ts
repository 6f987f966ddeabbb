import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import t from 'tap';

import { RiskgateError } from '../../src/errors.js';
import { compileRuleSource, loadRuleSet } from '../../src/rules/compile.js';
import { readRuleSource } from '../../src/rules/load.js';

const directory = mkdtempSync(join(tmpdir(), 'riskgate-rules-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;
function ruleFile(...lines: string[]): string {
  files += 1;
  const file = join(directory, `rules-${files}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function problemsOf(...paths: string[]) {
  return compileRuleSource(readRuleSource(paths)).problems;
}

const COUNTER = ['counters:', '  - name: failures', '    key: [ip]', '    count: failures', '    window: 10m'];

t.test('valid rule file compiles', async (t) => {
  const file = ruleFile(
    ...COUNTER,
    'rules:',
    '  - id: test.failures',
    '    description: Many failures',
    '    when: counters.failures >= 3',
    '    score: 40',
    '    retry_after: 2m',
    '    tags: [T1110]',
  );

  const ruleSet = loadRuleSet([file]);

  t.equal(ruleSet.rules.length, 1);
  t.equal(ruleSet.rules[0].retryAfterMs, 120_000);
  t.same(ruleSet.rules[0].reads, ['counters.failures']);
  t.equal(ruleSet.counters[0].windowMs, 600_000);
  t.same(ruleSet.thresholds, { challengeAt: 50, blockAt: 100 }, 'default thresholds');
  t.ok(Object.isFrozen(ruleSet), 'the rule set is frozen');
});

t.test('rule set version follows the content', async (t) => {
  const first = ruleFile('rules:', '  - id: a.b', '    description: d', '    when: "true"', '    score: 1');
  const second = ruleFile('rules:', '  - id: a.b', '    description: d', '    when: "true"', '    score: 2');

  t.not(loadRuleSet([first]).version, loadRuleSet([second]).version);
  t.equal(loadRuleSet([first]).version, loadRuleSet([first]).version);
});

t.test('rule set version ignores where the files are', async (t) => {
  const rules = ['lists: { watched: watched.txt }', 'rules:', '  - id: test.listed', '    description: Listed address',
    '    when: ip.in_list("watched")', '    score: 40'].join('\n');
  const versions: string[] = [];
  for (const folder of ['here', 'there']) {
    mkdirSync(join(directory, folder, 'rules'), { recursive: true });
    writeFileSync(join(directory, folder, 'rules', 'policy.yaml'), rules);
    writeFileSync(join(directory, folder, 'rules', 'watched.txt'), '192.0.2.1\n');
    versions.push(loadRuleSet([join(directory, folder, 'rules')]).version);
  }
  writeFileSync(join(directory, 'there', 'rules', 'watched.txt'), '192.0.2.2\n');
  const changedList = loadRuleSet([join(directory, 'there', 'rules')]).version;

  t.equal(versions[0], versions[1], 'a copy in another folder has the same version');
  t.not(changedList, versions[1], 'an edited IP list changes the version');
});

t.test('unknown key points at the key', async (t) => {
  const file = ruleFile(
    'thresold:',
    '  challenge_at: 10',
    'rules:',
    '  - id: a.b',
    '    descripton: typo',
    '    description: d',
    '    when: "true"',
    '    score: 1',
  );

  const problems = problemsOf(file);

  const top = problems.find((problem) => problem.message.includes('"thresold"'));
  const nested = problems.find((problem) => problem.message.includes('"descripton"'));
  t.same([top?.line, top?.column], [1, 1], 'thresold on line 1');
  t.same([nested?.line, nested?.column], [5, 5], 'descripton on line 5');
});

t.test('invalid condition is located in its file', async (t) => {
  const file = ruleFile(...COUNTER, 'rules:', '  - id: a.bad', '    description: d', '    when: counters.failurs >= 3', '    score: 1');

  const problems = problemsOf(file);

  t.equal(problems.length, 1);
  t.equal(problems[0].file, file);
  t.equal(problems[0].line, 9, 'on the line of when');
  t.match(problems[0].message, /rule "a\.bad": invalid condition/);
});

t.test('non-bool condition is refused', async (t) => {
  const file = ruleFile(...COUNTER, 'rules:', '  - id: a.int', '    description: d', '    when: counters.failures', '    score: 1');

  const problems = problemsOf(file);

  t.equal(problems.length, 1);
  t.match(problems[0].message, /rule "a\.int": when must be a bool expression, but it is int/);
});

t.test('every problem of every file is reported', async (t) => {
  const first = ruleFile(
    'thresholds: { challenge_at: 100, block_at: 50 }',
    ...COUNTER,
    '  - name: failures',
    '    key: [ip]',
    '    count: failures',
    '    window: 1h',
    'rules:',
    '  - id: a.one',
    '    description: d',
    '    when: "true"',
    '  - id: a.one',
    '    description: d',
    '    when: "true"',
    '    score: 1',
  );
  const second = ruleFile('thresholds: { challenge_at: 10, block_at: 20 }', 'rules:', '  - id: a.two', '    description: d', '    when: ip.nonexistent', '    score: 1');
  // A file that breaks the schema is not read further, so its problem comes alone.
  const third = ruleFile(...COUNTER.slice(0, -1), '    window: ten minutes');

  const problems = problemsOf(first, second, third);
  const messages = problems.map((problem) => `${problem.file}:${problem.line}: ${problem.message}`).join('\n');

  t.match(messages, /challenge_at \(100\) must be below block_at \(50\)/);
  t.match(messages, /:5: counters\.0\.window must be a duration such as 30s, 10m or 1h/, 'the bad window');
  t.match(messages, /rule "a\.one" needs a score or an action/);
  t.match(messages, /duplicate rule id "a\.one"/);
  t.match(messages, /duplicate counter name "failures"/);
  t.match(messages, /thresholds are already set in/);
  t.match(messages, /rule "a\.two": invalid condition/);
});

t.test('missing rule path is a problem', async (t) => {
  const problems = problemsOf(join(directory, 'absent'));

  t.equal(problems.length, 1);
  t.match(problems[0].message, /rule path not found/);
});

t.test('directory without rule files is a problem', async (t) => {
  const empty = join(directory, 'empty');
  mkdirSync(empty);

  const problems = problemsOf(empty);

  t.match(problems[0].message, /no rule files \(\*\.yaml\) found/);
});

t.test('loadRuleSet throws every problem', async (t) => {
  const file = ruleFile('rules:', '  - id: Not_Valid', '    description: d', '    when: "true"', '    score: 1');

  const error = t.throws(() => loadRuleSet([file])) as RiskgateError;

  t.equal(error.code, 'RG_ERR_RULES_INVALID');
  t.match(error.message, /^1 problem\(s\) found:\n.+rules-\d+\.yaml:\d+:\d+: /);
});

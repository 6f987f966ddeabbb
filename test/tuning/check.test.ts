import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

import t from 'tap';

import { runCheck } from '../../src/cli/tuning.js';
import { loadRuleSet } from '../../src/rules/compile.js';
import { PROJECT_ROOT } from '../helpers/gateway.js';
import { COUNTER_HEADER, captureOutput, writeTree } from './io.js';

const GOOD_RULES = `${COUNTER_HEADER}rules:
  - id: velocity.hits
    description: Too many attempts
    when: counters.hits >= 60
    action: block
`;
const CONFIG = 'upstream: http://127.0.0.1:3000\nrules: [rules]\nchallenge: { mode: forward }\n';

t.test('check accepts a valid config', async (t) => {
  const tree = writeTree({ 'riskgate.yaml': CONFIG, 'rules/velocity.yaml': GOOD_RULES });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ config: tree.path('riskgate.yaml') }, [], output.io);

  t.equal(status, 0);
  t.match(output.out(), /^ok: config valid; 1 rules, 1 counters in 1 files \(rule set [0-9a-f]{12}\); 0 warning\(s\)\n$/);
});

t.test('check reports a missing colon at its line', async (t) => {
  const broken = GOOD_RULES.replace('    description: Too many attempts', '    description Too many attempts');
  const tree = writeTree({ 'riskgate.yaml': CONFIG, 'rules/velocity.yaml': broken });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ config: tree.path('riskgate.yaml') }, [], output.io);

  t.equal(status, 1);
  t.match(output.lines()[0], /velocity\.yaml:11:5: invalid YAML: /);
  t.match(output.lines().at(-1), /^invalid: 1 error\(s\), 0 warning\(s\) in 1 file\(s\)$/);
});

t.test('check points CEL errors into plain, quoted and block scalars', async (t) => {
  const rules = `${COUNTER_HEADER}rules:
  - id: plain.type
    description: plain scalar with a type error
    when: ua.automation && counters.hits > "x"
    score: 60
  - id: quoted.counter
    description: double-quoted scalar with an unknown counter
    when: "ua.automation && counters.hitz > 1"
    score: 60
  - id: single.counter
    description: single-quoted scalar with an unknown counter
    when: 'ua.browser == ''x'' && counters.hitz > 1'
    score: 60
  - id: literal.signal
    description: literal block with an unknown signal
    when: |
      ua.automation &&
        ua.nope == 1
    score: 60
  - id: folded.syntax
    description: folded block with a syntax error
    when: >-
      ua.automation
      && && true
    score: 60
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.equal(lines.length, 6, 'five errors and the summary');
  t.match(lines[0], /rules\.yaml:12:28: rule "plain\.type": invalid condition: no such overload: int > string$/);
  t.match(lines[1], /rules\.yaml:16:38: rule "quoted\.counter": invalid condition: unknown counter "hitz": declare it under counters/);
  t.match(lines[2], /rules\.yaml:20:44: rule "single\.counter": invalid condition: unknown counter "hitz"/);
  t.match(lines[3], /rules\.yaml:26:12: rule "literal\.signal": invalid condition: unknown signal "ua\.nope"; ua has browser/);
  t.match(lines[4], /rules\.yaml:32:10: rule "folded\.syntax": invalid condition: /);
  t.equal(lines[5], 'invalid: 5 error(s), 0 warning(s) in 1 file(s)');
});

t.test('check reports a non-bool condition at the expression', async (t) => {
  const rules = `${COUNTER_HEADER}rules:\n  - id: not.bool\n    description: int\n    when: counters.hits\n    score: 60\n`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);

  t.equal(status, 1);
  t.match(output.lines()[0], /rules\.yaml:12:11: rule "not\.bool": when must be a bool expression, but it is int/);
});

t.test('check reports invalid RE2 patterns at their line', async (t) => {
  const rules = `${COUNTER_HEADER}rules:
  - id: lookahead
    description: RE2 has no lookahead
    when: counters.hits > 1 && ua.browser.matches("(?=Head)less")
    score: 60
  - id: backreference
    description: RE2 has no backreferences
    when: matches(ua.os, "(a)\\\\1")
    score: 60
  - id: re2-only
    description: RE2 syntax that JavaScript RegExp lacks
    when: ua.browser.matches("(?i)headless") || ua.os.matches("[[:digit:]]\\\\z")
    score: 60
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /rules\.yaml:12:51: rule "lookahead": invalid RE2 pattern "\(\?=Head\)less" in matches: invalid or unsupported Perl syntax/);
  t.match(lines[1], /rules\.yaml:16:26: rule "backreference": invalid RE2 pattern "\(a\)\\\\1" in matches: invalid escape sequence/);
  t.equal(lines[2], 'invalid: 2 error(s), 0 warning(s) in 1 file(s)', 'the RE2-only patterns are valid');
});

t.test('check reports every schema error of a file', async (t) => {
  const rules = `${COUNTER_HEADER}rules:
  - id: bad.action
    description: action outside the enum
    when: counters.hits > 1
    action: deny
  - id: bad.key
    description: misspelt key
    when: counters.hits > 1
    scor: 10
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /rules\.yaml:13:13: rules\.0\.action must be one of allow, challenge, block$/);
  t.match(lines[1], /rules\.yaml:17:5: unknown key "scor"$/);
  t.equal(lines[2], 'invalid: 2 error(s), 0 warning(s) in 1 file(s)');
});

t.test('check reports duplicates, thresholds and unknown counters together', async (t) => {
  const rules = `thresholds:
  challenge_at: 100
  block_at: 50
counters:
  - name: hits
    key: [ip]
    count: attempts
    window: 1m
rules:
  - id: dup.rule
    description: first
    when: counters.hits > 1
    score: 60
  - id: dup.rule
    description: second
    when: counters.misses > 1
    score: 60
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /rules\.yaml:2:17: challenge_at \(100\) must be below block_at \(50\)$/);
  t.match(lines[1], /rules\.yaml:14:5: duplicate rule id "dup\.rule" \(first defined at .*rules\.yaml:10\)$/);
  t.match(lines[2], /rules\.yaml:16:20: rule "dup\.rule": invalid condition: unknown counter "misses"/);
  t.equal(lines[3], 'invalid: 3 error(s), 0 warning(s) in 1 file(s)');
});

t.test('check warns about rules that can never change a decision', async (t) => {
  const rules = `${COUNTER_HEADER}rules:
  - id: allow.everyone
    description: an allow rule whose condition is always true
    when: "true"
    action: allow
  - id: shadowed.score
    description: shadowed by allow.everyone
    when: counters.hits > 10
    score: 60
  - id: never.fires
    description: constant false
    when: 1 > 2
    score: 60
  - id: still.blocks
    description: block rules still apply
    when: counters.hits >= 60
    action: block
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);

  const relaxed = captureOutput();
  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], relaxed.io);
  const lines = relaxed.lines();

  t.equal(status, 0, 'warnings alone do not fail');
  t.match(lines[0], /rules\.yaml:12:11: warning: rule "allow\.everyone" allows every login that no action: block rule blocks/);
  t.match(lines[1], /rules\.yaml:16:11: warning: rule "shadowed\.score" can never change a decision: rule "allow\.everyone"/);
  t.match(lines[2], /rules\.yaml:20:11: warning: rule "never\.fires" can never fire: its condition is always false/);
  t.notMatch(relaxed.out(), /still\.blocks/);
  t.match(lines.at(-1), /^ok: rules valid; 4 rules, 1 counters in 1 files .*; 3 warning\(s\)$/);

  const strict = captureOutput();
  t.equal(await runCheck({ rules: tree.path('rules.yaml'), strict: true }, [], strict.io), 1, '--strict fails on warnings');
  t.equal(strict.lines().at(-1), 'invalid: 0 error(s), 3 warning(s) in 1 file(s) (--strict)');
});

t.test('check warns when no score can reach challenge_at', async (t) => {
  const rules = `${COUNTER_HEADER}rules:
  - id: small.one
    description: small score
    when: counters.hits > 10
    score: 20
  - id: small.two
    description: small score
    when: counters.hits > 20
    score: 20
`;
  const tree = writeTree({ 'rules.yaml': rules });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 0);
  t.match(lines[0], /rules\.yaml:13:12: warning: rule "small\.one" can never change a decision: all positive scores together add up to 40, below challenge_at \(50\)/);
  t.match(lines[1], /rules\.yaml:17:12: warning: rule "small\.two" can never change a decision/);
});

t.test('check still checks rules when the config is invalid', async (t) => {
  const tree = writeTree({
    'riskgate.yaml': 'upstream: http://127.0.0.1:3000\nrules: [rules]\nlisten: nowhere\nchallenge: { mode: forward }\n',
    'rules/velocity.yaml': GOOD_RULES.replace('counters.hits >= 60', 'counters.hitz >= 60'),
  });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ config: tree.path('riskgate.yaml') }, [], output.io);
  const lines = output.lines();

  t.equal(status, 1);
  t.match(lines[0], /riskgate\.yaml:3:9: listen /);
  t.match(lines[1], /velocity\.yaml:12:20: rule "velocity\.hits": invalid condition: unknown counter "hitz"/);
  t.equal(lines[2], 'invalid: 2 error(s), 0 warning(s) in 1 file(s)');
});

t.test('check of a missing config names the flag', async (t) => {
  const output = captureOutput();

  const status = await runCheck({ config: '/nonexistent/riskgate.yaml' }, [], output.io);

  t.equal(status, 1);
  t.match(output.lines()[0], /^\/nonexistent\/riskgate\.yaml:1:1: config file not found: .*pass --config FILE/);
});

t.test('check errors are the ones start rejects', async (t) => {
  const tree = writeTree({ 'rules.yaml': `${COUNTER_HEADER}rules:\n  - id: a\n    description: a\n    when: counters.nope > 1\n    score: 1\n` });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ rules: tree.path('rules.yaml') }, [], output.io);

  t.equal(status, 1);
  t.throws(() => loadRuleSet([tree.path('rules.yaml')]), { code: 'RG_ERR_RULES_INVALID' });
});

t.test('check rejects empty and cut-off rule files', async (t) => {
  const tree = writeTree({
    'riskgate.yaml': CONFIG,
    'rules/a-empty.yaml': '',
    'rules/b-comments.yaml': '# credential attacks\n\n',
    'rules/c-cut.yaml': 'thresholds:\n  challenge_at: 50\n  block_at: 100\n',
    'rules/velocity.yaml': GOOD_RULES.replace(COUNTER_HEADER.split('counters:')[0], ''),
  });
  t.teardown(tree.remove);
  const output = captureOutput();

  const status = await runCheck({ config: tree.path('riskgate.yaml') }, [], output.io);

  t.equal(status, 1);
  const lines = output.lines();
  t.match(lines[0], /rules\/a-empty\.yaml:1:1: rule file is empty \(no YAML content\): restore its rules, or delete the file to drop its rules$/);
  t.match(lines[1], /rules\/b-comments\.yaml:1:1: rule file is empty \(no YAML content\)/);
  t.match(lines[2], /rules\/c-cut\.yaml:1:1: rule file has no rules and no counters, as an empty or cut-off file has: restore its rules, or delete the file to drop its rules$/);
  t.equal(lines[3], 'invalid: 3 error(s), 0 warning(s) in 4 file(s)');
  t.throws(() => loadRuleSet([tree.path('rules/a-empty.yaml')]), { code: 'RG_ERR_RULES_INVALID' }, 'start rejects it too');
});

t.test('riskgate check exits with the status it prints', async (t) => {
  const tree = writeTree({ 'bad.yaml': `${COUNTER_HEADER}rules:\n  - id: a\n    description: a\n    when: counters.nope > 1\n    score: 1\n` });
  t.teardown(tree.remove);
  const cli = resolve(PROJECT_ROOT, 'dist/cli/main.js');

  const good = await promisify(execFile)('node', [cli, 'check', '--rules', resolve(PROJECT_ROOT, 'rules')]);
  t.match(good.stdout, /^ok: rules valid; /);

  const bad = await promisify(execFile)('node', [cli, 'check', '--rules', tree.path('bad.yaml')]).then(
    () => undefined,
    (error: { code: number; stdout: string }) => error,
  );
  t.equal(bad?.code, 1);
  t.match(bad?.stdout, /bad\.yaml:12:20: rule "a": invalid condition: unknown counter "nope"/);
});

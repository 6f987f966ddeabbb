import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import t from 'tap';

import { cleanEnv, ensureBuilt, runCli } from '../helpers/cli.js';
import { DEFAULT_RULES, PROJECT_ROOT, TEST_SECRET } from '../helpers/gateway.js';

// The rule and config commands (test, check), run as a user runs them. The start and demo
// commands are in cli.test.ts; each spawn takes a second or more, so the two files share the load.

ensureBuilt();

const directory = mkdtempSync(join(tmpdir(), 'riskgate-cli-check-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

function configFile(name: string, lines: string[]): string {
  const file = join(directory, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

t.test('test passes on the default rules', async (t) => {
  const result = runCli(['test', DEFAULT_RULES]);

  t.equal(result.status, 0, result.stdout);
  t.match(result.stdout, /\n\d+ passed, 0 failed\n$/);
  t.notMatch(result.stdout, /FAIL/);
});

t.test('test fails on a failing case', async (t) => {
  const file = configFile('failing-rules.yaml', [
    'rules:',
    '  - { id: t.always, description: Always fires, when: "true", score: 10 }',
    'tests:',
    '  - { name: expects a block, expect: { decision: block } }',
  ]);

  const result = runCli(['test', file]);

  t.equal(result.status, 1);
  t.match(result.stdout, /FAIL expects a block/);
  t.match(result.stdout, /0 passed, 1 failed/);
});

t.test('check accepts the example config', async (t) => {
  const result = runCli(['check', '--config', resolve(PROJECT_ROOT, 'riskgate.example.yaml')]);

  t.equal(result.status, 0, result.stdout + result.stderr);
  t.match(result.stdout, /^ok: config valid; \d+ rules, \d+ counters in \d+ files/m);
  t.match(result.stdout, / 0 warning\(s\)$/m, 'with no warning');
});

t.test('check and start reject store URL', async (t) => {
  const file = configFile('store-url.yaml', [
    'upstream: http://127.0.0.1:9',
    `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
    'challenge: { mode: forward }',
  ]);
  const env = cleanEnv({ RISKGATE_SECRET: TEST_SECRET, REDIS_URL: 'redis://:Secret%zz@127.0.0.1:6379' });
  const problem = /environment: REDIS_URL "redis:\/\/\*\*\*@127\.0\.0\.1:6379" has an invalid percent-encoding in its user name or password/;

  const check = runCli(['check', '--config', file], env);
  t.equal(check.status, 1, 'check fails');
  t.match(check.stdout, problem, 'check names the variable');
  t.notMatch(check.stdout + check.stderr, /Secret/, 'check does not echo the password');

  const start = runCli(['start', '--config', file], env);
  t.equal(start.status, 1, 'start fails');
  t.match(start.stderr, problem, 'start gives the same message');
  t.notMatch(start.stderr, /URI malformed/, 'start explains the problem');
  t.notMatch(start.stdout + start.stderr, /Secret/, 'start does not echo the password');
});

t.test('URL passwords with line breaks stay hidden', async (t) => {
  // A secret saved with a trailing line break and pasted into a URL template.
  const file = configFile('line-break-url.yaml', [
    'upstream: "http://app:UpstreamSecret\\n@127.0.0.1:9"',
    `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
    'challenge: { mode: forward }',
    'store: { url: "redis://:StoreSecret\\r\\n@127.0.0.1:6379/0" }',
    'webhook: { url: "https://hook:HookSecret\\n@hooks.example/x" }',
  ]);
  const env = cleanEnv({ RISKGATE_SECRET: TEST_SECRET, REDIS_URL: 'redis://:EnvSecret\n@127.0.0.1:6379/0' });

  const check = runCli(['check', '--config', file], env);
  const start = runCli(['start', '--config', file], env);

  t.equal(check.status, 1, 'check fails');
  t.equal(start.status, 1, 'start fails');
  for (const [name, output] of [['check', check.stdout + check.stderr], ['start', start.stdout + start.stderr]]) {
    t.notMatch(output, /UpstreamSecret|StoreSecret|HookSecret|EnvSecret/, `${name} prints no password`);
    t.match(output, /REDIS_URL/, `${name} names the variable`);
    const problems = output.split('\n').filter((line) => /line-break-url\.yaml|environment:/.test(line));
    t.ok(problems.length > 0, `${name} reports the problems`);
    t.notMatch(output, /\r/, `${name} prints no carriage return`);
  }
});

t.test('check reports a step-up key file that start could not load', async (t) => {
  const notPem = configFile('not-a-key.pem', ['not a key']);
  for (const [name, keyFile, problem] of [
    ['missing-key.yaml', 'nowhere.pem', /missing-key\.yaml:3:46: challenge\.public_key_file: cannot read .*nowhere\.pem: file not found/],
    ['bad-key.yaml', notPem, /bad-key\.yaml:3:46: challenge\.public_key_file: .*not-a-key\.pem is not a PEM public key for ES256/],
  ] as const) {
    const file = configFile(name, [
      'upstream: http://127.0.0.1:9',
      `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
      `challenge: { mode: step-up, public_key_file: ${JSON.stringify(keyFile)} }`,
    ]);
    const check = runCli(['check', '--config', file], cleanEnv({ RISKGATE_SECRET: TEST_SECRET }));
    t.equal(check.status, 1, `${name}: check fails`);
    t.match(check.stdout, problem, `${name}: check names the key and its line`);
  }
});

t.test('check reports every problem', async (t) => {
  const file = configFile('check-invalid.yaml', ['upstream: ftp://app', 'store:', '  timeout: soon']);

  const result = runCli(['check', '--config', file]);

  t.equal(result.status, 1);
  t.match(result.stdout, /check-invalid\.yaml:1:11: upstream has an invalid format/);
  t.match(result.stdout, /check-invalid\.yaml:3:12: store\.timeout has an invalid format/);
});

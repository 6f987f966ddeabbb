import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';

import t, { type Test } from 'tap';

import { BROWSER_HEADERS, login, send } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { runCheck } from '../../src/cli/tuning.js';
import { captureOutput } from '../tuning/io.js';
import { waitForDecisions } from '../helpers/wait.js';
import {
  EXPECTED,
  FileTree,
  SET_A,
  SET_B,
  configText,
  reloadCounts,
  reloadLines,
  startReloadingGateway,
  waitForReload,
  type ReloadingGateway,
} from './helpers.js';

/** Start a watched gateway serving set A from rules/policy.yaml, in front of a recording upstream. */
async function setUp(t: Test, config = ''): Promise<{ tree: FileTree; gateway: ReloadingGateway; upstream: RecordingUpstream }> {
  const tree = new FileTree();
  tree.replace('rules/policy.yaml', SET_A);
  const upstream = await new RecordingUpstream().start();
  const gateway = await startReloadingGateway(tree, upstream.url, config);
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    tree.remove();
  });
  return { tree, gateway, upstream };
}

/** Log in once and return the reply with its decision line. */
async function scoredLogin(gateway: ReloadingGateway, username: string): Promise<{ status: number; line: Record<string, any> }> {
  const before = gateway.logs.decisions.length;
  const reply = await login(gateway.port, username, 'wonderland');
  const lines = await waitForDecisions(gateway.logs, before + 1);
  return { status: reply.status, line: lines[before] };
}

async function readiness(gateway: ReloadingGateway): Promise<Record<string, any>> {
  return (await send(gateway.adminPort, { path: '/readyz' })).json();
}

t.test('invalid edit keeps the old set serving', async (t) => {
  const { tree, gateway } = await setUp(t);
  const before = await scoredLogin(gateway, 'first');
  const version = before.line.riskgate.rule_set;

  const broken = SET_B.replace('counters.b_attempts >= 0', 'counters.b_atempts >= 0').replace('    description: Fires on every login\n', '    description Fires on every login\n');
  tree.replace('rules/policy.yaml', broken);
  const rejected = await waitForReload(gateway.logs, 'failure', 1);

  t.equal(rejected.log.level, 'error');
  t.equal(rejected.riskgate.rule_set, version, 'the rejection names the set still in force');
  t.equal(rejected.riskgate.reload.trigger, 'file');
  t.same(rejected.riskgate.reload.files, [tree.path('rules/policy.yaml')]);
  t.equal(rejected.riskgate.reload.error_count, 1, 'YAML that does not parse hides the CEL error behind it');
  t.equal(rejected.riskgate.reload.errors[0], `${tree.path('rules/policy.yaml')}:6:5: invalid YAML: Implicit keys need to be on a single line`);
  t.match(rejected.message, `rule set ${version} stays in force`);

  tree.replace('rules/policy.yaml', SET_B.replace('counters.b_attempts >= 0', 'counters.b_atempts >= 0').replace('"true"', '"1 + 1"'));
  const second = await waitForReload(gateway.logs, 'failure', 2);
  t.same(second.riskgate.reload.errors.map((error: string) => error.slice(tree.path('rules/policy.yaml').length)), [
    ':7:12: rule "b.every-login": when must be a bool expression, but it is int; compare it, for example 1 + 1 > 0',
    ':11:20: rule "b.counted-login": invalid condition: unknown counter "b_atempts": declare it under counters or check its spelling (declared: b_attempts)',
  ], 'every error of the set, each as file:line:column: message');

  const after = await scoredLogin(gateway, 'second');
  t.equal(after.line.riskgate.rule_set, version);
  t.same(after.line.riskgate.rules, EXPECTED.a.rules);
  t.equal(after.status, EXPECTED.a.status);
  t.same(await reloadCounts(gateway.adminPort), { success: 0, failure: 2 });
  const ready = await readiness(gateway);
  t.equal(ready.checks.rules.version, version);
  t.equal(ready.checks.rules.last_reload.result, 'failure');
  t.equal(ready.checks.rules.last_reload.errors, 2);
});

t.test('valid edit takes effect', async (t) => {
  const { tree, gateway } = await setUp(t);
  const before = await scoredLogin(gateway, 'first');

  tree.replace('rules/policy.yaml', SET_B);
  const reloaded = await waitForReload(gateway.logs, 'success', 1);
  const after = await scoredLogin(gateway, 'second');

  t.equal(reloaded.log.level, 'warn', 'set B drops the rules of set A');
  t.same(reloaded.riskgate.reload.removed_rules, EXPECTED.a.rules);
  t.equal(reloaded.riskgate.previous_rule_set, before.line.riskgate.rule_set);
  t.equal(reloaded.riskgate.rule_set, after.line.riskgate.rule_set);
  t.not(reloaded.riskgate.rule_set, reloaded.riskgate.previous_rule_set);
  t.equal(reloaded.riskgate.reload.rule_count, 2);
  t.equal(reloaded.message, `rules reloaded: rule set ${before.line.riskgate.rule_set} -> ${after.line.riskgate.rule_set}, ` +
    'mode enforce; removed 2 rule(s): a.every-login, a.counted-login; 2 warning(s), listed in riskgate.reload.warnings');
  t.equal(reloaded.riskgate.reload.warning_count, 2, 'set B scores stay below its challenge_at, as check warns');
  t.same(after.line.riskgate.rules, EXPECTED.b.rules);
  t.equal(after.line.riskgate.decision, EXPECTED.b.decision);
  t.same(Object.keys(after.line.riskgate.counters), [EXPECTED.b.counter]);
  t.equal(after.status, EXPECTED.b.status);
  t.same(await reloadCounts(gateway.adminPort), { success: 1, failure: 0 });
  const ready = await readiness(gateway);
  t.equal(ready.status, 'ready');
  t.equal(ready.checks.rules.version, reloaded.riskgate.rule_set);
  t.notOk(ready.checks.rules.last_reload, 'no rejected reload to report');
});

t.test('emptied or cut-off rule file is rejected', async (t) => {
  const { tree, gateway } = await setUp(t);
  const version = (await scoredLogin(gateway, 'first')).line.riskgate.rule_set;
  const file = tree.path('rules/policy.yaml');

  // Truncate in place, as `: > file` or a writer that crashed before its first write does.
  writeFileSync(file, '');
  const emptied = await waitForReload(gateway.logs, 'failure', 1);
  t.equal(emptied.log.level, 'error');
  t.same(emptied.riskgate.reload.errors, [
    `${file}:1:1: rule file is empty (no YAML content): restore its rules, or delete the file to drop its rules`,
  ]);

  tree.replace('rules/policy.yaml', SET_A.slice(0, SET_A.indexOf('counters:')));
  const cut = await waitForReload(gateway.logs, 'failure', 2);
  t.same(cut.riskgate.reload.errors, [
    `${file}:1:1: rule file has no rules and no counters, as an empty or cut-off file has: ` +
      'restore its rules, or delete the file to drop its rules',
  ]);

  const after = await scoredLogin(gateway, 'second');
  t.equal(after.line.riskgate.rule_set, version, 'the last good set keeps serving');
  t.same(after.line.riskgate.rules, EXPECTED.a.rules);
  t.equal(after.status, EXPECTED.a.status);
  t.same(reloadLines(gateway.logs, 'success'), [], 'no reload was accepted');
  t.equal((await readiness(gateway)).checks.rules.last_reload.result, 'failure');
});

t.test('a FIFO among the rule files is rejected without blocking', async (t) => {
  const { tree, gateway } = await setUp(t);
  const version = (await scoredLogin(gateway, 'first')).line.riskgate.rule_set;
  const fifo = tree.path('rules/pipe.yaml');

  // Opening a FIFO for reading waits for a writer, which never comes here.
  execFileSync('mkfifo', [fifo]);
  const rejected = await waitForReload(gateway.logs, 'failure', 1);
  t.same(rejected.riskgate.reload.errors, [
    `${fifo}:1:1: rule file could not be read: it is not a regular file (a FIFO, socket, device or directory); ` +
      'point the setting at a file',
  ]);

  const reply = await send(gateway.adminPort, { path: '/healthz' });
  t.equal(reply.status, 200, 'the event loop still answers');
  const after = await scoredLogin(gateway, 'second');
  t.equal(after.line.riskgate.rule_set, version, 'the last good set keeps serving');
});

t.test('reload that removes rules warns with their ids', async (t) => {
  const { tree, gateway } = await setUp(t);

  // Cut at a rule boundary: the file still parses, but the second rule is gone.
  tree.replace('rules/policy.yaml', SET_A.slice(0, SET_A.indexOf('  - id: a.counted-login')));
  const reloaded = await waitForReload(gateway.logs, 'success', 1);

  t.equal(reloaded.log.level, 'warn');
  t.equal(reloaded.riskgate.reload.rule_count, 1);
  t.same(reloaded.riskgate.reload.removed_rules, ['a.counted-login']);
  t.match(reloaded.message, /; removed 1 rule\(s\): a\.counted-login; 2 warning\(s\), listed in riskgate\.reload\.warnings$/);
  t.equal(reloaded.riskgate.reload.warning_count, 2);
  t.match(reloaded.riskgate.reload.warnings[0], /policy\.yaml:3:5: counter "a_attempts" is read by no rule/);
  t.match(reloaded.riskgate.reload.warnings[1], /policy\.yaml:\d+:\d+: rule "a\.every-login" can never change a decision/);
});

t.test('reload logs the warnings check prints', async (t) => {
  const { tree, gateway } = await setUp(t);
  const allowAll = `${SET_A}  - id: a.allow-all
    description: Allows every login
    when: "true"
    action: allow
`;
  tree.replace('rules/policy.yaml', allowAll);
  const reloaded = await waitForReload(gateway.logs, 'success', 1);

  t.equal(reloaded.log.level, 'warn');
  t.notOk(reloaded.riskgate.reload.removed_rules, 'no rule was removed');
  const file = tree.path('rules/policy.yaml');
  const check = captureOutput();
  await runCheck({ rules: file }, [], check.io);
  const checkWarnings = check.lines()
    .filter((line) => line.includes(': warning: '))
    .map((line) => line.replace(': warning: ', ': '));
  t.ok(checkWarnings.length >= 1, 'check prints warnings for this file');
  t.same(reloaded.riskgate.reload.warnings, checkWarnings, 'the reload line lists the warnings check prints');
  t.equal(reloaded.riskgate.reload.warning_count, checkWarnings.length);
  t.ok(reloaded.riskgate.reload.warnings.some((warning: string) => warning.includes('rule "a.allow-all" allows every login')));
  t.same((await readiness(gateway)).checks.rules.warnings, checkWarnings, '/readyz shows them too');

  tree.replace('rules/policy.yaml', SET_A);
  const restored = await waitForReload(gateway.logs, 'success', 2);
  t.equal(restored.log.level, 'warn', 'the allow-all rule was removed');
  t.same(restored.riskgate.reload.removed_rules, ['a.allow-all']);
  t.notOk(restored.riskgate.reload.warnings);
  t.notOk((await readiness(gateway)).checks.rules.warnings, 'the warnings clear with the rule');
});

t.test('fixing a rejected edit clears the readiness note', async (t) => {
  const { tree, gateway } = await setUp(t);
  tree.replace('rules/policy.yaml', SET_B.replace('score: 30', 'score: "thirty"'));
  await waitForReload(gateway.logs, 'failure', 1);
  t.ok((await readiness(gateway)).checks.rules.last_reload);

  tree.replace('rules/policy.yaml', SET_A);
  const restored = await waitForReload(gateway.logs, 'success', 1);

  t.equal(restored.riskgate.rule_set, restored.riskgate.previous_rule_set, 'the running set was restored, not changed');
  t.match(restored.message, /^rules reloaded: no change, rule set [0-9a-f]{12} stays in force$/);
  t.notOk((await readiness(gateway)).checks.rules.last_reload);
});

t.test('config edit switches mode live and names restart keys', async (t) => {
  const { tree, gateway, upstream } = await setUp(t);
  const restartOnly = 'body_limit_bytes: 4096\nstore: { url: memory, key_prefix: other }\n';

  tree.replace('riskgate.yaml', configText(upstream.url, `mode: monitor\n${restartOnly}`));
  const reloaded = await waitForReload(gateway.logs, 'success', 1);
  const warning = gateway.logs.lines.find((line) => line.riskgate?.reload?.restart_required);
  const monitored = await scoredLogin(gateway, 'monitored');

  t.equal(reloaded.riskgate.mode, 'monitor');
  t.equal(reloaded.riskgate.previous_mode, 'enforce');
  t.match(reloaded.message, /^rules reloaded: rule set [0-9a-f]{12} unchanged, mode enforce -> monitor$/);
  t.equal(warning?.log.level, 'warn');
  t.same(warning?.riskgate.reload.restart_required, ['store.key_prefix', 'body_limit_bytes']);
  t.equal(warning?.message, 'config keys changed that apply only after a restart: store.key_prefix, body_limit_bytes; ' +
    'the running gateway keeps their previous values');
  t.equal(monitored.status, 200, 'monitor mode forwards a login the rules would challenge');
  t.equal(monitored.line.riskgate.decision, 'allow');
  t.equal(monitored.line.riskgate.would_decision, 'challenge');
  t.ok(upstream.logins.some((request) => request.username === 'monitored'));

  tree.replace('riskgate.yaml', configText(upstream.url, `mode: monitor\n${restartOnly}rules: [nowhere]\n`));
  const rejected = await waitForReload(gateway.logs, 'failure', 1);
  t.match(rejected.riskgate.reload.errors[0], `${tree.path('nowhere')}:1:1: rule path not found`);
  t.equal(gateway.logs.lines.filter((line) => line.riskgate?.reload?.restart_required).length, 1,
    'the restart warning is not repeated');
  t.equal((await scoredLogin(gateway, 'still-monitored')).line.riskgate.decision, 'allow');

  // A password may contain "/", and a mistyped scheme has no "://".
  tree.replace('riskgate.yaml', configText('http://svc:Pa/S3cretPW@exa mple', `store: { url: "redis//:S3cretPW@127.0.0.1:6393" }\n`));
  const leaked = await waitForReload(gateway.logs, 'failure', 2);
  t.ok(leaked.riskgate.reload.errors.length > 0, 'the invalid URLs are reported');
  t.notMatch(JSON.stringify(leaked), /S3cretPW/, 'no password reaches the reload line');
});

t.test('IP list edit changes the version', async (t) => {
  const { tree, gateway } = await setUp(t);
  tree.replace('lists/watched.txt', '# addresses to watch\n192.0.2.1\n');
  const withList = `lists: { watched: ../lists/watched.txt }
${SET_B}  - id: b.listed
    description: Address on the watched list
    when: ip.in_list("watched")
    score: 150
`;
  tree.replace('rules/policy.yaml', withList);
  const first = await waitForReload(gateway.logs, 'success', 1);
  const unlisted = await scoredLogin(gateway, 'unlisted');

  tree.replace('lists/watched.txt', '# addresses to watch\n192.0.2.1\n127.0.0.1\n');
  const second = await waitForReload(gateway.logs, 'success', 2);
  const listed = await scoredLogin(gateway, 'listed');

  t.equal(unlisted.line.riskgate.rule_set, first.riskgate.rule_set);
  t.same(unlisted.line.riskgate.rules, EXPECTED.b.rules);
  t.equal(second.riskgate.previous_rule_set, first.riskgate.rule_set);
  t.not(second.riskgate.rule_set, first.riskgate.rule_set, 'the list is part of the version');
  t.same(second.riskgate.reload.files, [tree.path('lists/watched.txt')]);
  t.equal(listed.line.riskgate.rule_set, second.riskgate.rule_set);
  t.same(listed.line.riskgate.rules, [...EXPECTED.b.rules, 'b.listed']);
  t.equal(listed.line.riskgate.decision, 'challenge');
});

/** Rule set B with a rule that challenges every address on the list "watched". */
const SET_B_WITH_LIST = `lists: { watched: ../lists/watched.txt }
${SET_B}  - id: b.listed
    description: Address on the watched list
    when: ip.in_list("watched")
    score: 150
`;

/** Fixed listen, admin and upstream ports of the IP list tests, in a range no other test uses. */
t.test('emptied IP list is rejected', async (t) => {
  const { tree, gateway } = await setUp(t);
  tree.replace('lists/watched.txt', '192.0.2.1\n127.0.0.1\n');
  tree.replace('rules/policy.yaml', SET_B_WITH_LIST);
  const loaded = await waitForReload(gateway.logs, 'success', 1);
  const listFile = tree.path('lists/watched.txt');
  const expected = `${listFile}:1:1: IP list "watched" is empty, but had 2 address range(s) before this reload: ` +
    'restore its addresses (one address or CIDR per line), or remove the list and its rules to drop it';

  tree.replace('lists/watched.txt', '');
  const emptied = await waitForReload(gateway.logs, 'failure', 1);
  t.equal(emptied.log.level, 'error');
  t.same(emptied.riskgate.reload.errors, [expected], 'the error names the file and the fix');

  tree.replace('lists/watched.txt', '# comments only\n\n');
  const commented = await waitForReload(gateway.logs, 'failure', 2);
  t.same(commented.riskgate.reload.errors, [expected], 'a list of comments only is rejected too');

  const after = await scoredLogin(gateway, 'listed');
  t.equal(after.line.riskgate.rule_set, loaded.riskgate.rule_set, 'the last good set keeps serving');
  t.same(after.line.riskgate.rules, [...EXPECTED.b.rules, 'b.listed'], 'the last good list still matches');
  t.equal(after.line.riskgate.decision, 'challenge');
  t.equal(reloadLines(gateway.logs, 'success').length, 1, 'no reload was accepted after the list emptied');
  t.equal((await readiness(gateway)).checks.rules.last_reload.result, 'failure');

  tree.replace('lists/watched.txt', '127.0.0.1\n');
  const restored = await waitForReload(gateway.logs, 'success', 2);
  t.not(restored.riskgate.rule_set, loaded.riskgate.rule_set, 'a restored list is taken');
});

t.test('IP list empty at start reloads', async (t) => {
  const { tree, gateway } = await setUp(t);
  tree.replace('lists/watched.txt', '');
  tree.replace('rules/policy.yaml', SET_B_WITH_LIST);
  const loaded = await waitForReload(gateway.logs, 'success', 1);
  const listFile = tree.path('lists/watched.txt');
  const expected = `${listFile}:1:1: IP list "watched" in ${listFile} has no entries`;

  t.equal(loaded.log.level, 'warn');
  t.ok(loaded.riskgate.reload.warnings.some((warning: string) => warning.startsWith(expected)), 'the reload line names the list file');
  t.ok(loaded.riskgate.reload.warnings.some((warning: string) => warning.includes('restore its addresses')), 'the warning says the fix');
  const ready = await readiness(gateway);
  t.ok(ready.checks.rules.warnings.some((warning: string) => warning.startsWith(expected)), '/readyz shows the warning');
  const check = captureOutput();
  await runCheck({ rules: tree.path('rules/policy.yaml') }, [], check.io);
  t.ok(check.lines().some((line) => line.startsWith(`${listFile}:1:1: warning: IP list "watched"`)), 'check prints the warning');

  tree.replace('lists/watched.txt', '# comments only\n\n');
  const commented = await waitForReload(gateway.logs, 'success', 2);
  t.ok(commented.riskgate.reload.warnings.some((warning: string) => warning.startsWith(expected)), 'a list that stays empty is taken');
  t.same(reloadLines(gateway.logs, 'failure'), [], 'no reload was rejected');
});

t.test('replaced rule directory is followed', async (t) => {
  const { tree, gateway } = await setUp(t);
  tree.replace('next/policy.yaml', SET_B);

  renameSync(tree.path('rules'), tree.path('previous'));
  renameSync(tree.path('next'), tree.path('rules'));
  const swapped = await waitForReload(gateway.logs, 'success', 1);
  const afterSwap = await scoredLogin(gateway, 'after-swap');
  tree.replace('rules/policy.yaml', SET_A);
  const edited = await waitForReload(gateway.logs, 'success', 2);
  const afterEdit = await scoredLogin(gateway, 'after-edit');

  t.equal(afterSwap.line.riskgate.rule_set, swapped.riskgate.rule_set);
  t.same(afterSwap.line.riskgate.rules, EXPECTED.b.rules);
  t.equal(edited.riskgate.previous_rule_set, swapped.riskgate.rule_set, 'an edit inside the new directory is seen');
  t.same(afterEdit.line.riskgate.rules, EXPECTED.a.rules);
});

t.test('login in flight across a reload is scored by one set', async (t) => {
  const { tree, gateway } = await setUp(t, 'reload: { watch: false }');
  const body = JSON.stringify({ username: 'straddling', password: 'wonderland' });
  // The gateway's own request listener runs first and reads the policy before it waits
  // for the body, so once this listener runs the login has taken set A.
  const arrived = new Promise<void>((resolve) => gateway.server.once('request', () => resolve()));
  const request = http.request({
    host: '127.0.0.1', port: gateway.port, method: 'POST', path: '/login', agent: false,
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json', 'content-length': String(body.length) },
  });
  const reply = new Promise<number>((resolve, reject) => {
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
  });
  request.write(body.slice(0, 10));
  await arrived;
  const versionA = gateway.context.rules.current.version;

  tree.replace('rules/policy.yaml', SET_B);
  const result = gateway.reload();
  request.end(body.slice(10));
  const status = await reply;
  const [line] = await waitForDecisions(gateway.logs, 1);

  t.equal(result.outcome, 'reloaded');
  t.equal(result.previousVersion, versionA);
  t.equal(line.riskgate.rule_set, versionA, 'scored by the set in force when the login arrived');
  t.same(line.riskgate.rules, EXPECTED.a.rules);
  t.same(Object.keys(line.riskgate.counters), [EXPECTED.a.counter]);
  t.equal(status, EXPECTED.a.status);
  t.equal((await scoredLogin(gateway, 'next')).line.riskgate.rule_set, result.version);
  t.equal(reloadLines(gateway.logs, 'success')[0].riskgate.reload.trigger, 'call');
});

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { exportSPKI, generateKeyPair } from 'jose';
import type { Test } from 'tap';

import { loadConfigFile } from '../../src/config/load.js';
import { startGateway, type RunningGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log/logger.js';
import { LogCapture, REDIS_URL, TEST_SECRET, send } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { parseMetrics } from '../admin/client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Two rule sets built so that mixing them shows in every decision line. Each fires both of
 * its rules on every login, for a score of 60. Set A challenges at 50, so its logins are
 * challenged (401). Set B challenges at 200, so its logins are allowed and reach the app.
 * A's rules under B's thresholds would allow with `a.*` rules, B's under A's would challenge
 * with `b.*` rules, and each set's counter has its own name.
 */
export const SET_A = ruleSet('a', 50, 100);
export const SET_B = ruleSet('b', 200, 300);

function ruleSet(name: string, challengeAt: number, blockAt: number): string {
  return `thresholds: { challenge_at: ${challengeAt}, block_at: ${blockAt} }
counters:
  - { name: ${name}_attempts, key: [ip], count: attempts, window: 1m }
rules:
  - id: ${name}.every-login
    description: Fires on every login
    when: "true"
    score: 30
  - id: ${name}.counted-login
    description: Fires on every login and reads this set's counter
    when: counters.${name}_attempts >= 0
    score: 30
`;
}

/** What a decision line scored by each set must show. */
export const EXPECTED = {
  a: { rules: ['a.every-login', 'a.counted-login'], decision: 'challenge', counter: 'a_attempts', status: 401 },
  b: { rules: ['b.every-login', 'b.counted-login'], decision: 'allow', counter: 'b_attempts', status: 200 },
} as const;

/** A temporary directory of config, rule and list files. */
export class FileTree {
  readonly dir = mkdtempSync(join(tmpdir(), 'riskgate-reload-'));

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replace a file as editors do: write a temporary file, then rename it over the old one. */
  replace(name: string, text: string): void {
    const target = this.path(name);
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, target);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ReloadingGateway extends RunningGateway {
  port: number;
  adminPort: number;
  logs: LogCapture;
}

/**
 * Start a gateway from `riskgate.yaml` in the tree, as `riskgate start` does: a reload
 * reads the file again and the files are watched. `config` is YAML appended to defaults
 * that suit tests (free ports, memory store, step-up challenges verified with a key file
 * written here, usernames in plain text).
 */
export async function startReloadingGateway(tree: FileTree, upstream: string, config = ''): Promise<ReloadingGateway> {
  const { publicKey } = await generateKeyPair('ES256');
  tree.replace('mfa-public.pem', await exportSPKI(publicKey));
  tree.replace('riskgate.yaml', configText(upstream, config));
  const file = tree.path('riskgate.yaml');
  const load = () => loadConfigFile(file, { env: {}, secret: TEST_SECRET });
  const logs = new LogCapture();
  const gateway = await startGateway(load(), {
    logger: createLogger({ level: 'debug', destination: 'stdout' }, logs).logger,
    loadConfig: load,
    watchFiles: true,
  });
  const port = Number(new URL(gateway.url).port);
  const adminPort = Number(new URL(gateway.admin.url).port);
  return Object.assign(gateway, { port, adminPort, logs });
}

/** Build the test config text. Each `key: value` line of `extra` adds a key or replaces a default. */
export function configText(upstream: string, extra = ''): string {
  const keys = new Map<string, string>([
    ['listen', '127.0.0.1:0'],
    ['upstream', upstream],
    ['rules', '[rules]'],
    ['store', '{ url: memory }'],
    ['challenge', '{ mode: step-up, issuer: test-mfa, audience: riskgate, algorithms: [ES256], public_key_file: mfa-public.pem }'],
    ['admin', '{ listen: 127.0.0.1:0 }'],
    ['log', '{ level: debug, username: plain }'],
    ['reload', '{ watch: true, debounce: 30ms }'],
  ]);
  for (const line of extra.split('\n').filter((entry) => entry.trim())) {
    const separator = line.indexOf(':');
    keys.set(line.slice(0, separator).trim(), line.slice(separator + 1).trim());
  }
  return `${[...keys].map(([key, value]) => `${key}: ${value}`).join('\n')}\n`;
}

/** Log lines of reload attempts (event.action rules-reload) with the given outcome. */
export function reloadLines(logs: LogCapture, outcome: 'success' | 'failure'): Record<string, any>[] {
  return logs.lines.filter((line) => line.event?.action === 'rules-reload' && line.event.outcome === outcome);
}

/** Wait until there are `count` reload lines of an outcome, and return the last. */
export async function waitForReload(logs: LogCapture, outcome: 'success' | 'failure', count: number): Promise<Record<string, any>> {
  await waitFor(() => reloadLines(logs, outcome).length >= count,
    `${count} reload line(s) with outcome ${outcome}, have ${reloadLines(logs, outcome).length}`, 5000);
  return reloadLines(logs, outcome)[count - 1];
}

/** Read `riskgate_rule_reloads_total` by result from the admin listener. */
export async function reloadCounts(adminPort: number): Promise<{ success: number; failure: number }> {
  const samples = parseMetrics((await send(adminPort, { path: '/metrics' })).body);
  return {
    success: samples.get('riskgate_rule_reloads_total{result="success"}') ?? Number.NaN,
    failure: samples.get('riskgate_rule_reloads_total{result="failure"}') ?? Number.NaN,
  };
}

/**
 * Start a reloading gateway on the shared Redis under a key prefix of its own, with
 * `rules/policy.yaml` holding `policy`, in front of a recording app. The test's teardown
 * stops both and deletes the prefix's keys.
 */
export async function startRedisReloadingGateway(t: Test, policy: string) {
  const prefix = `rgtr${randomBytes(4).toString('hex')}`;
  const tree = new FileTree();
  tree.replace('rules/policy.yaml', policy);
  const upstream = await new RecordingUpstream().start();
  const gateway = await startReloadingGateway(tree, upstream.url, `store: { url: ${REDIS_URL}, key_prefix: ${prefix} }`);
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    tree.remove();
    await deleteKeysWithPrefix(prefix);
  });
  return { prefix, tree, gateway };
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';

import { DEFAULT_RULES, PROJECT_ROOT, REDIS_URL } from './gateway.js';
import { waitFor } from './wait.js';

export const CLI = resolve(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/**
 * Make sure the compiled CLI exists. `npm test` builds it first (pretest); a test file run
 * on its own builds it here when dist/ is missing.
 */
export function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  const build = spawnSync(process.execPath, [resolve(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  if (!existsSync(CLI)) throw new Error(`building the CLI failed:\n${build.stdout}${build.stderr}`);
}

/**
 * Write `riskgate.yaml` into `directory` for commands that work on the test Redis under
 * `prefix`, such as `forget` and `export`, and return its path.
 */
export function writeRedisCliConfig(directory: string, prefix: string): string {
  const file = join(directory, 'riskgate.yaml');
  writeFileSync(file, [
    'upstream: http://127.0.0.1:9',
    `rules: [${JSON.stringify(DEFAULT_RULES)}]`,
    'challenge: { mode: forward }',
    `store: { url: ${JSON.stringify(REDIS_URL)}, key_prefix: ${prefix}, timeout: 2s }`,
    '',
  ].join('\n'));
  return file;
}

/** Copy the test process's environment without any riskgate or Redis setting. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('RISKGATE_') && name !== 'REDIS_URL') env[name] = value;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), cwd = PROJECT_ROOT): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, cwd, encoding: 'utf8', timeout: 15_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A long-running CLI process whose output is collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv, cwd = PROJECT_ROOT) {
    this.child = spawn(process.execPath, [CLI, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolvePromise) => {
      this.child.on('exit', (code, signal) => resolvePromise({ code, signal }));
    });
  }

  async waitForOutput(text: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.stdout.includes(text) || this.child.exitCode !== null, `"${text}" on stdout`, timeoutMs);
    if (!this.stdout.includes(text)) {
      throw new Error(`the process exited before printing "${text}":\n${this.stdout}\n${this.stderr}`);
    }
  }

  /** Send SIGKILL if the process is still running, for teardown after a failed test. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Find a loopback port that was free a moment ago; another process may take it first. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
  return port;
}

/** Listen on a free loopback port and keep it, so that a process started on it fails to bind. */
export async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const { port } = server.address() as net.AddressInfo;
  return { port, close: () => new Promise<void>((resolvePromise) => server.close(() => resolvePromise())) };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { DEFAULT_RULES, PROJECT_ROOT, TEST_SECRET } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

export const MAIN = resolve(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** A `riskgate start` child process and the JSON lines it printed. */
export interface GatewayProcess {
  child: ChildProcess;
  directory: string;
  lines: Record<string, any>[];
  stderr: string;
  url: string;
  adminUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawn `node dist/cli/main.js start` on free loopback ports with a config file written
 * for it, and wait for its start-up line. `logFile` sends the log to a file in the
 * process's directory instead of stdout.
 */
export async function spawnGateway(options: {
  upstream: string;
  logFile?: string;
  /** Rule files or directories; the default rules when absent. */
  rules?: string[];
  config?: string;
  env?: Record<string, string>;
  /** A descriptor for the child's stdout, and how to read the lines the child wrote there. */
  stdout?: { fd: number; lines: () => Record<string, any>[] };
}): Promise<GatewayProcess> {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: build first with npx tsc -p tsconfig.json (npm test does)`);
  }
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-process-'));
  const destination = options.logFile ? join(directory, options.logFile) : 'stdout';
  const file = join(directory, 'riskgate.yaml');
  writeFileSync(
    file,
    [
      'listen: 127.0.0.1:0',
      `upstream: ${options.upstream}`,
      `rules: ${JSON.stringify(options.rules ?? [DEFAULT_RULES])}`,
      'store: { url: memory }',
      'challenge: { mode: forward }',
      'admin: { listen: 127.0.0.1:0 }',
      `log: { level: info, destination: ${JSON.stringify(destination)} }`,
      options.config ?? '',
    ].join('\n'),
  );

  const child = spawn(process.execPath, [MAIN, 'start', '--config', file], {
    cwd: directory,
    env: { PATH: process.env.PATH ?? '', RISKGATE_SECRET: TEST_SECRET, ...options.env },
    stdio: ['ignore', options.stdout?.fd ?? 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
  });

  const running: GatewayProcess = { child, directory, lines: [], stderr: '', url: '', adminUrl: '', exited };
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) running.lines.push(JSON.parse(line));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    running.stderr += chunk.toString('utf8');
  });

  const started = () => {
    const source = options.logFile ? readLines(join(directory, options.logFile)) : options.stdout?.lines() ?? running.lines;
    return source.find((line) => line.message === 'riskgate started');
  };
  await waitFor(() => started() !== undefined || child.exitCode !== null, 'the start-up line', 10_000);
  const line = started();
  if (!line) throw new Error(`riskgate start exited with ${child.exitCode}: ${running.stderr}`);
  running.url = line.url.full;
  running.adminUrl = line.admin.url;
  return running;
}

/** Parse the JSON lines of a log file; a missing file has none. */
export function readLines(file: string): Record<string, any>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

import { spawn } from 'node:child_process';

import t from 'tap';

import { CLI, cleanEnv, ensureBuilt } from '../helpers/cli.js';
import { DEFAULT_RULES, PROJECT_ROOT } from '../helpers/gateway.js';

ensureBuilt();

const EVENT = JSON.stringify({ signals: { ua: { automation: true } }, counters: { failures_per_ip: 40 } });

interface ClosedPipeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Run the CLI with its standard output a pipe whose read end is closed before the CLI
 * writes, as `riskgate test | head -1` leaves it once head has exited.
 */
function runWithClosedStdout(args: string[], input = ''): Promise<ClosedPipeRun> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.destroy();
  child.stdin.end(input);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const COMMANDS: { name: string; args: string[]; input?: string }[] = [
  { name: 'test', args: ['test', DEFAULT_RULES] },
  { name: 'explain', args: ['explain', '--rules', DEFAULT_RULES], input: EVENT },
  { name: 'explain --json', args: ['explain', '--rules', DEFAULT_RULES, '--json'], input: EVENT },
  { name: 'check', args: ['check', '--rules', DEFAULT_RULES] },
  { name: 'help', args: ['--help'] },
];

for (const command of COMMANDS) {
  t.test(`${command.name} into a closed pipe`, async (t) => {
    const result = await runWithClosedStdout(command.args, command.input);

    t.equal(result.signal, null, 'the process was not killed by a signal');
    t.equal(result.code, 0, 'exits 0, not the status of a failing test case');
    t.notMatch(result.stderr, /EPIPE/, 'prints no EPIPE error');
    t.notMatch(result.stderr, /\n\s+at /, 'prints no stack trace');
  });
}

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every server this process started, killed on exit in case a teardown never ran. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Return why redis-server cannot run here, or undefined when `redis-server --version` runs. */
export function missingRedisServer(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5000 });
    return undefined;
  } catch {
    return 'redis-server is not installed (or not on PATH), so no private Redis can be started';
  }
}

/** Return a loopback TCP port that was free a moment ago. The caller retries if it is taken by then. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Create a temporary folder for one test's server files, and a function that removes it. */
export function temporaryDirectory(name: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `riskgate-${name}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RedisServerOptions {
  /** Working folder: config files, cluster state. */
  directory: string;
  /** Arguments for a server on `port`. `busPort` is a second free port, for the Cluster bus. */
  args: (port: number, busPort: number) => string[];
  /** Output line that means the server accepts connections. */
  ready?: RegExp;
  /**
   * Ports to try in turn instead of free ones, for a test that must stay in a range. The
   * first port the server binds is used. The bus port is then 0, so no Cluster can run.
   */
  ports?: readonly number[];
}

const READY = /Ready to accept connections/;
const START_TIMEOUT_MS = 5000;
const START_ATTEMPTS = 5;

/**
 * A redis-server (or sentinel) process of a test's own on 127.0.0.1. The test can pause it
 * with SIGSTOP to play a Redis that stops answering, and must stop it in its teardown.
 */
export class RedisServer {
  output = '';
  private paused = false;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly busPort: number,
    private readonly options: RedisServerOptions,
  ) {}

  /**
   * Start a server on free ports. A port taken between the check and the bind makes
   * redis-server exit, so the start is retried on new ports a few times.
   */
  static async start(options: RedisServerOptions): Promise<RedisServer> {
    let lastOutput = '';
    const attempts = options.ports?.length ?? START_ATTEMPTS;
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const server = options.ports
        ? await RedisServer.launch(options, options.ports[attempt], 0)
        : await RedisServer.launch(options, await freePort(), await freePort());
      if (await server.waitUntilReady()) return server;
      lastOutput = server.output;
      await server.stop();
    }
    throw new Error(`redis-server did not start after ${attempts} attempts; its last output:\n${lastOutput}`);
  }

  /** Start the same server again on its old ports, after `stop`. */
  async restart(): Promise<RedisServer> {
    const server = await RedisServer.launch(this.options, this.port, this.busPort);
    if (!(await server.waitUntilReady())) {
      await server.stop();
      throw new Error(`redis-server did not restart on port ${this.port}; its output:\n${server.output}`);
    }
    return server;
  }

  private static async launch(options: RedisServerOptions, port: number, busPort: number): Promise<RedisServer> {
    const child = spawn('redis-server', options.args(port, busPort), { cwd: options.directory, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const server = new RedisServer(child, port, busPort, options);
    const record = (chunk: Buffer) => {
      server.output += chunk.toString('utf8');
    };
    child.stdout!.on('data', record);
    child.stderr!.on('data', record);
    child.once('exit', () => running.delete(child));
    return server;
  }

  private async waitUntilReady(): Promise<boolean> {
    const ready = this.options.ready ?? READY;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!ready.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Freeze the process with SIGSTOP. Connections stay open, but no command gets a reply. */
  pause(): void {
    this.child.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.child.kill('SIGCONT');
    this.paused = false;
  }

  /** Kill the process and wait for it to exit. Calling it again does nothing. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    if (this.paused) this.resume();
    await exited;
  }
}

/** Return the arguments every private server gets: loopback only, nothing written to disk. */
export function baseArguments(port: number): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
}

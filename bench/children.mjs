// Processes the benchmark starts: the upstream app, the proxies under test, the load
// generator, a private Redis server and nginx. Every one of them listens on loopback only
// and is stopped when the benchmark exits.
import { fork, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const started = new Set();
process.on('exit', () => {
  for (const child of started) child.kill();
});

/**
 * Fork one of the bench scripts and resolve once it sends `{ ready: port }`. `execArgv`
 * goes to Node, for example `--cpu-prof`.
 */
export function startScript(script, args, execArgv = []) {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, script), args, {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: ['--expose-gc', ...execArgv],
    });
    started.add(child);
    const onExit = (code) => reject(new Error(`bench/${script} ${args.join(' ')} exited with status ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('exit', () => started.delete(child));
    child.once('message', (message) => {
      child.off('exit', onExit);
      if (message?.ready) resolve({ process: child, port: message.ready });
      else reject(new Error(`bench/${script} sent ${JSON.stringify(message)} instead of ready`));
    });
  });
}

/** Send an IPC request ('cpu' or 'memory') to a bench child and resolve with its reply. */
export function ask(child, request) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(request);
  });
}

/** Ask a bench child to exit cleanly and wait until it has. */
export function stopScript(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.send('stop');
  });
}

let loadGenerator;

/**
 * Run one load in the load generator's process (see load.mjs), started on first use and
 * kept for the whole benchmark; resolves with the run's figures. Runs go one at a time.
 */
export function runLoad(spec) {
  if (!loadGenerator) {
    loadGenerator = fork(join(here, 'load.mjs'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    started.add(loadGenerator);
    loadGenerator.once('exit', () => {
      started.delete(loadGenerator);
      loadGenerator = undefined;
    });
  }
  const generator = loadGenerator;
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`the load generator exited with status ${code} during a run`));
    generator.once('exit', onExit);
    generator.once('message', (message) => {
      generator.off('exit', onExit);
      if (message.error) reject(new Error(`the load generator failed: ${message.error}`));
      else resolve(message.result);
    });
    generator.send({ spec });
  });
}

/** Return true when `command` can be run from the PATH. */
export function onPath(command) {
  return !spawnSync(command, ['-v'], { stdio: 'ignore' }).error;
}

/** Find a free loopback TCP port for servers that cannot report the one they bound. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start a Redis server of the benchmark's own, without persistence, so INFO commandstats
 * count only the gateway's commands and the shared server is left alone.
 */
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const { Redis } = await import('ioredis');
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      await client.ping();
      return { url: `redis://127.0.0.1:${port}/0`, client, process: child };
    } catch {
      client.disconnect();
      await sleep(100);
    }
  }
  throw new Error(`redis-server did not respond on 127.0.0.1:${port} within 5 s`);
}

/** Start nginx with one worker as a keep-alive reverse proxy in front of `upstreamPort`. */
export async function startNginx(directory, upstreamPort) {
  const port = await freePort();
  const config = `worker_processes 1;
daemon off;
pid ${directory}/nginx.pid;
error_log ${directory}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${directory}/body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
  const file = join(directory, 'nginx.conf');
  writeFileSync(file, config);
  // -e names the start-up error log, which nginx opens before it reads the config.
  const child = spawn('nginx', ['-c', file, '-p', directory, '-e', join(directory, 'nginx-error.log')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (await answers(port)) return { process: child, port };
    await sleep(100);
  }
  throw new Error(`nginx did not respond on 127.0.0.1:${port} within 5 s; see ${directory}/nginx-error.log`);
}

/** Stop nginx gracefully (SIGQUIT), so its master reaps the worker before it exits. */
export function stopNginx(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGQUIT');
  });
}

async function answers(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

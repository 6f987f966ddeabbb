import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import t from 'tap';

import { PROJECT_ROOT, TEST_SECRET, login, send } from '../helpers/gateway.js';

const run = promisify(execFile);

/** Why the container test cannot run here, or undefined when a Docker engine answers. */
function missingEngine(): string | undefined {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch {
    return 'no Docker engine answers `docker info` on this machine, so the image is not built or run';
  }
}

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { cwd: PROJECT_ROOT, timeout: 600_000, maxBuffer: 32 * 1024 * 1024 });
  return stdout.trim();
}

/** Host port that `docker run -p 127.0.0.1::PORT` published for a container port. */
async function publishedPort(container: string, port: number): Promise<number> {
  const mapping = await docker('port', container, `${port}/tcp`);
  return Number(mapping.split('\n')[0].split(':').at(-1));
}

const reason = missingEngine();

t.test('image builds and serves one login', { skip: reason, timeout: 900_000 }, async (t) => {
  const tag = `riskgate:test-${randomBytes(4).toString('hex')}`;
  await docker('build', '--tag', tag, '.');
  const container = await docker(
    'run', '--detach', '--rm',
    '--env', `RISKGATE_SECRET=${TEST_SECRET}`,
    '--publish', '127.0.0.1::8080',
    '--publish', '127.0.0.1::9090',
    tag, 'demo',
  );
  t.teardown(async () => {
    await docker('rm', '--force', container).catch(() => undefined);
    await docker('rmi', '--force', tag).catch(() => undefined);
  });

  const port = await publishedPort(container, 8080);
  const adminPort = await publishedPort(container, 9090);
  const deadline = Date.now() + 30_000;
  let health = await send(adminPort, { path: '/healthz' }).catch(() => undefined);
  while (health?.status !== 200 && Date.now() < deadline) {
    await sleep(500);
    health = await send(adminPort, { path: '/healthz' }).catch(() => undefined);
  }
  const reply = await login(port, 'alice', 'wonderland');
  const user = await docker('exec', container, 'id', '-u');
  const healthcheck = await docker('inspect', '--format', '{{json .Config.Healthcheck.Test}}', container);

  t.equal(health?.status, 200);
  t.equal(reply.status, 200);
  t.not(user, '0', 'the container does not run as root');
  t.match(healthcheck, /127\.0\.0\.1:9090\/healthz/);
});

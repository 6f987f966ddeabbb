// The configurations under test, each with a URL and a reading of its own CPU time.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ask, onPath, startNginx, startRedis, startScript, stopNginx, stopScript } from './children.mjs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ), from getconf; 100 when it fails. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * Start the upstream app and every configuration that can run here. Returns the targets in
 * a fixed order, the private Redis (or undefined), and why any configuration was skipped.
 */
export async function startTargets(workDirectory) {
  const skipped = [];
  const upstream = await startScript('upstream.mjs', []);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const nodeCpu = (child) => async () => {
    const { cpu } = await ask(child, 'cpu');
    return cpu.user + cpu.system;
  };

  // `stop` does nothing for the upstream, which the memory phase still uses.
  const targets = [{ name: 'direct', url: upstreamUrl, cpuUs: nodeCpu(upstream.process), stop: async () => {} }];
  const bare = await startScript('serve.mjs', ['bare', '-', upstreamUrl, '-', '-']);
  targets.push({ name: 'bare-proxy', url: `http://127.0.0.1:${bare.port}`, cpuUs: nodeCpu(bare.process), stop: () => stopScript(bare.process) });

  if (onPath('nginx')) {
    const nginx = await startNginx(workDirectory, upstream.port);
    targets.push({
      name: 'nginx',
      url: `http://127.0.0.1:${nginx.port}`,
      cpuUs: async () => processTreeCpuUs(nginx.process.pid),
      stop: () => stopNginx(nginx.process),
    });
  } else {
    skipped.push('nginx: no nginx binary on the PATH, so the nginx configuration was skipped');
  }

  const memory = await startGateway('memory', upstreamUrl, workDirectory, 'rgbm');
  targets.push({ name: 'riskgate-memory', ...memory });

  let redis;
  if (onPath('redis-server')) {
    redis = await startRedis();
    const gateway = await startGateway(redis.url, upstreamUrl, workDirectory, 'rgbr');
    targets.push({ name: 'riskgate-redis', ...gateway });
  } else {
    skipped.push('riskgate-redis: no redis-server binary on the PATH to start a private Redis, so it was skipped');
  }

  return { upstream: { ...upstream, url: upstreamUrl }, targets, redis, skipped };
}

/** Start one riskgate gateway in its own process; `cpuUs` reads its CPU time. */
export async function startGateway(storeUrl, upstreamUrl, workDirectory, prefix, execArgv = []) {
  const logFile = join(workDirectory, `${prefix}-decisions.log`);
  const gateway = await startScript('serve.mjs', ['riskgate', storeUrl, upstreamUrl, prefix, logFile], execArgv);
  const cpuUs = async () => {
    const { cpu } = await ask(gateway.process, 'cpu');
    return cpu.user + cpu.system;
  };
  return { url: `http://127.0.0.1:${gateway.port}`, cpuUs, process: gateway.process, logFile, stop: () => stopScript(gateway.process) };
}

/** User plus system CPU of a process and its direct children (nginx's workers), from /proc. */
function processTreeCpuUs(pid) {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // The process ended between the listing and the read.
    }
    // The command name is in brackets and may contain spaces, so fields count from its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(entry) === pid || Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}

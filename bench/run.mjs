// npm run bench: riskgate against a bare http-proxy and the upstream itself, measured side
// by side in one run. Configurations are interleaved and repeated, and medians reported, so
// machine noise hits all of them alike. Writes bench/results.json and docs/benchmarks.md.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';

import { renderReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const SATURATION_S = quick ? 2 : 5;
const FIXED_RATE = 2000;
const FIXED_S = quick ? 2 : 4;
const MEMORY_KEYS = quick ? 20_000 : 100_000;

const children = [];
process.on('exit', () => children.forEach((child) => child.kill()));

function start(script, args) {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, script), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
    children.push(child);
    child.once('message', (message) => (message.ready ? resolve(child) : reject(new Error(String(message)))));
    child.once('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
}

function figures(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('figures');
  });
}

function load(spec) {
  const output = execFileSync(process.execPath, [join(here, 'load.mjs'), JSON.stringify(spec)], { maxBuffer: 1 << 20 });
  return JSON.parse(output.toString());
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
}

async function redisCommandCalls(redis) {
  const text = await redis.info('commandstats');
  let calls = 0;
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([a-z|]+):calls=(\d+)/.exec(line.trim());
    if (match && match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
}

async function main() {
  const upstream = await start('upstream.mjs', ['18601']);
  const upstreamUrl = 'http://127.0.0.1:18601';
  const targets = [
    { name: 'direct', port: 18601, process: upstream },
    { name: 'bare-proxy', port: 18602, process: await start('serve.mjs', ['bare', '-', '18602', upstreamUrl]) },
    { name: 'riskgate-memory', port: 18603, process: await start('serve.mjs', ['riskgate', 'memory', '18603', upstreamUrl, 'rgbm']) },
  ];
  const redis = new Redis('redis://127.0.0.1:6379/0', { lazyConnect: true, maxRetriesPerRequest: 1 });
  let redisUp = true;
  try {
    await redis.connect();
  } catch {
    redisUp = false;
    console.log('Redis is not reachable on 127.0.0.1:6379: skipping riskgate-redis');
  }
  if (redisUp) {
    const prefix = `rgbr${Date.now()}`;
    targets.push({ name: 'riskgate-redis', port: 18604, process: await start('serve.mjs', ['riskgate', 'redis', '18604', upstreamUrl, prefix]) });
  }
  if (spawnSync('nginx', ['-v']).error) {
    console.log('nginx is not on the PATH: skipping the nginx configuration');
  }

  const samples = {};
  let offset = 0;
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const workload of ['get', 'login']) {
      for (const target of targets) {
        const before = await figures(target.process);
        const result = load({ url: `http://127.0.0.1:${target.port}`, workload, duration: SATURATION_S, usernames: 100_000, addresses: 99_991, offset });
        const after = await figures(target.process);
        offset += result.requests;
        const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
        const key = `${target.name}/${workload}`;
        (samples[key] ??= []).push({ rps: result.rps, cpuUsPerRequest: cpuUs / Math.max(1, result.requests), errors: result.errors + result.timeouts });
        console.log(`round ${round} ${key}: ${Math.round(result.rps)} req/s, ${(cpuUs / Math.max(1, result.requests)).toFixed(1)} µs CPU/req`);
      }
    }
  }

  const latency = {};
  for (const workload of ['get', 'login']) {
    for (const target of targets) {
      const result = load({ url: `http://127.0.0.1:${target.port}`, workload, duration: FIXED_S, rate: FIXED_RATE, connections: 20, usernames: 100_000, addresses: 99_991, offset });
      offset += result.requests;
      latency[`${target.name}/${workload}`] = { p50: result.p50, p99: result.p99, rate: FIXED_RATE };
    }
  }

  let redisPerLogin = null;
  if (redisUp) {
    const target = targets.find((entry) => entry.name === 'riskgate-redis');
    const before = await figures(target.process);
    const callsBefore = await redisCommandCalls(redis);
    const logins = 2000;
    load({ url: `http://127.0.0.1:${target.port}`, workload: 'login', amount: logins, connections: 10, usernames: 100_000, addresses: 99_991, offset });
    const callsAfter = await redisCommandCalls(redis);
    const after = await figures(target.process);
    redisPerLogin = { commands: (callsAfter - callsBefore) / logins, roundTrips: (after.roundTrips - before.roundTrips) / logins };
  }
  if (redisUp) await deleteBenchKeys(redis);
  await redis.quit().catch(() => {});

  const memoryTarget = await start('serve.mjs', ['riskgate', 'memory', '18605', upstreamUrl, 'rgbx']);
  const empty = await figures(memoryTarget);
  load({ url: 'http://127.0.0.1:18605', workload: 'login', amount: MEMORY_KEYS, connections: 50, usernames: MEMORY_KEYS, addresses: MEMORY_KEYS, offset: 0 });
  const full = await figures(memoryTarget);
  const memory = {
    logins: MEMORY_KEYS,
    rssMiB: full.rss / 1048576,
    storeEntries: full.storeEntries,
    bytesPerKey: (full.heapUsed - empty.heapUsed) / Math.max(1, full.storeEntries - empty.storeEntries),
  };

  const results = summarise(samples, latency, redisPerLogin, memory);
  mkdirSync(join(root, 'docs'), { recursive: true });
  writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(root, 'docs', 'benchmarks.md'), renderReport(results));
  printTable(results);
  process.exit(0);
}

/** Remove the keys this run wrote to the shared Redis (prefix rgbr). */
async function deleteBenchKeys(redis) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'rgbr*', 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

function summarise(samples, latency, redisPerLogin, memory) {
  const configurations = {};
  for (const [key, values] of Object.entries(samples)) {
    configurations[key] = {
      rps: median(values.map((value) => value.rps)),
      cpuUsPerRequest: median(values.map((value) => value.cpuUsPerRequest)),
      errors: values.reduce((total, value) => total + value.errors, 0),
      samples: values.map((value) => Math.round(value.rps)),
      ...latency[key],
    };
  }
  const versions = JSON.parse(execFileSync('npm', ['ls', '--json', '--depth=0', '--omit=dev'], { cwd: root }).toString()).dependencies;
  return {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    dependencies: Object.fromEntries(Object.entries(versions).map(([name, entry]) => [name, entry.version])),
    rounds: ROUNDS,
    saturationSeconds: SATURATION_S,
    configurations,
    redisPerLogin,
    memory,
  };
}

function printTable(results) {
  const rows = Object.entries(results.configurations).map(([key, value]) => ({
    configuration: key,
    'req/s': Math.round(value.rps),
    'vs bare': ratio(value.rps, results.configurations[`bare-proxy/${key.split('/')[1]}`]?.rps),
    'CPU µs/req': value.cpuUsPerRequest?.toFixed(1),
    'p50 ms': value.p50,
    'p99 ms': value.p99,
  }));
  console.table(rows);
  console.log('Redis per login:', results.redisPerLogin, 'memory:', results.memory);
}

function ratio(value, base) {
  return base ? `${((value / base) * 100).toFixed(0)}%` : '';
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

// npm run bench: riskgate against a bare http-proxy, nginx (when installed) and the upstream
// itself, measured side by side in one run on one machine. Writes bench/results.json and
// docs/benchmarks.md, and prints the figures. `--quick` runs one short round of each phase,
// to check the benchmark itself; its figures are not worth publishing.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ask, runLoad } from './children.mjs';
import { summariseProfile } from './cpu-profile.mjs';
import { LoginSequence, fixedRate, latencyRounds, saturationRounds, summarise, warmUp } from './measure.mjs';
import { redisPerLogin, redisVersion } from './redis-figures.mjs';
import { renderReport } from './report.mjs';
import { checkTargets } from './targets-table.mjs';
import { startGateway, startTargets } from './targets.mjs';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');
const quick = process.argv.includes('--quick');
const SETTINGS = {
  rounds: quick ? 1 : 3,
  warmUpRequests: quick ? 2000 : 4000,
  saturationSeconds: quick ? 2 : 3,
  latencySeconds: 1.5,
  connections: 50,
  latencyConnections: 32,
  usernames: 100_000,
  addresses: 99_991,
  memoryLogins: quick ? 20_000 : 100_000,
  redisLogins: quick ? 1000 : 3000,
  replayEvents: quick ? 50_000 : 200_000,
};
const started = Date.now();
const log = (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}`);

async function main() {
  const load = { start: os.loadavg() };
  log(`load average ${load.start.map((value) => value.toFixed(2)).join(' ')} on ${os.cpus().length} cores`);
  // Decision logs, the CPU profile and nginx's files; about 250 MB after a full run.
  const workDirectory = mkdtempSync(join(os.tmpdir(), 'riskgate-bench-'));
  process.on('exit', () => rmSync(workDirectory, { recursive: true, force: true }));
  const { upstream, targets, redis, skipped } = await startTargets(workDirectory);
  for (const reason of skipped) log(`skipped ${reason}`);

  const sequence = new LoginSequence();
  await warmUp(targets, SETTINGS.warmUpRequests, sequence, SETTINGS.connections);
  const saturation = await saturationRounds(targets, { ...SETTINGS, seconds: SETTINGS.saturationSeconds, sequence, log });
  SETTINGS.rates = { get: fixedRate(saturation, targets, 'get'), login: fixedRate(saturation, targets, 'login') };
  const latency = await latencyRounds(targets, {
    ...SETTINGS, seconds: SETTINGS.latencySeconds, connections: SETTINGS.latencyConnections, sequence, log,
  });

  const redisGateway = targets.find((target) => target.name === 'riskgate-redis');
  const redisFigures = redis
    ? await redisPerLogin(redis, redisGateway, { logins: SETTINGS.redisLogins, connections: 10, offset: sequence.take(1_000_000) })
    : null;
  log('counted Redis commands per login');
  for (const target of targets) await target.stop();

  const { memory, profile, logFile } = await memoryPhase(upstream.url, workDirectory);
  log(`memory phase: ${memory.logins} logins, ${memory.rssMiB.toFixed(0)} MiB resident`);
  const store = JSON.parse((await run(process.execPath, ['--expose-gc', join(here, 'memory.mjs'), redis?.url ?? '', String(SETTINGS.memoryLogins)])).stdout);
  log('measured the store alone');
  const replay = await replayPhase(logFile);
  log(`replayed ${replay.file.events} logged and ${replay.engine.events} synthetic events`);
  load.end = os.loadavg();

  const results = {
    generatedAt: new Date().toISOString(),
    quick,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    load,
    dependencies: dependencyVersions(),
    tools: {
      autocannon: packageVersion('autocannon'),
      ...(redis ? { 'redis-server': await redisVersion(redis.client) } : {}),
      ...(targets.some((target) => target.name === 'nginx') ? { nginx: nginxVersion() } : {}),
    },
    settings: SETTINGS,
    skipped,
    configurations: summarise(saturation, latency),
    redis: redisFigures,
    memory,
    store,
    replay,
    profile,
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
  };
  redis?.client.disconnect();

  writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const notesFile = join(here, 'notes.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '';
  writeFileSync(join(root, 'docs', 'benchmarks.md'), renderReport(results, notes));
  printTables(results);
  log('wrote bench/results.json and docs/benchmarks.md');
}

/**
 * 100,000 logins, each from a new username and a new address, into a fresh memory-store
 * gateway that runs under `node --cpu-prof`, so one phase gives both the memory figures
 * and the CPU profile of the login workload. The profiler keeps its samples outside the
 * JavaScript heap; they add a few MiB to the resident size and nothing to the heap figures.
 */
async function memoryPhase(upstreamUrl, workDirectory) {
  const directory = mkdtempSync(join(workDirectory, 'profile-'));
  const gateway = await startGateway('memory', upstreamUrl, workDirectory, 'rgbx', ['--cpu-prof', `--cpu-prof-dir=${directory}`]);
  const empty = await ask(gateway.process, 'memory');
  const logins = SETTINGS.memoryLogins;
  const cpuBefore = await gateway.cpuUs();
  const result = await runLoad({
    url: gateway.url, workload: 'login', amount: logins, connections: SETTINGS.connections, usernames: logins, addresses: logins, offset: 0,
  });
  const cpuUs = (await gateway.cpuUs()) - cpuBefore;
  const full = await ask(gateway.process, 'memory');
  await gateway.stop();

  const file = readdirSync(directory).find((name) => name.endsWith('.cpuprofile'));
  const memory = {
    logins,
    rssStartMiB: empty.rss / 2 ** 20,
    rssMiB: full.rss / 2 ** 20,
    heapMiB: full.heapUsed / 2 ** 20,
    storeEntries: full.storeEntries,
    heapBytesPerEntry: (full.heapUsed - empty.heapUsed) / Math.max(1, full.storeEntries - empty.storeEntries),
  };
  const profile = { requests: result.requests, rps: result.rps, cpuUsPerRequest: cpuUs / Math.max(1, result.requests), ...summariseProfile(join(directory, file)) };
  return { memory, profile, logFile: gateway.logFile };
}

/**
 * Measure replay twice: the engine alone on synthetic events (counters and rules, the
 * figure the 100,000 events per second target is for), and the CLI on the memory phase's
 * decision log, reading and parsing its lines included.
 */
async function replayPhase(logFile) {
  const engine = JSON.parse((await run(process.execPath, [join(here, 'replay-rate.mjs'), String(SETTINGS.replayEvents)])).stdout);
  const begin = performance.now();
  const { stdout } = await run(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'replay', '--rules', join(root, 'rules'), '--json', logFile], {
    cwd: root,
    maxBuffer: 16 << 20,
  });
  const wallSeconds = (performance.now() - begin) / 1000;
  const summary = JSON.parse(stdout);
  return { engine, file: { events: summary.events, eventsPerSecond: summary.events_per_second, wallSeconds } };
}

function dependencyVersions() {
  const listing = JSON.parse(execFileSync('npm', ['ls', '--json', '--depth=0', '--omit=dev'], { cwd: root }).toString());
  return Object.fromEntries(Object.entries(listing.dependencies).map(([name, entry]) => [name, entry.version]));
}

function nginxVersion() {
  const output = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr;
  return /nginx\/(\S+)/.exec(output)?.[1] ?? 'unknown';
}

function packageVersion(name) {
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}

function printTables(results) {
  const c = results.configurations;
  const ratio = (value, base) => (base ? `${Math.round((value / base) * 100)}%` : '');
  console.table(Object.entries(c).map(([key, value]) => {
    const workload = key.split('/')[1];
    return {
      configuration: key,
      'req/s': Math.round(value.rps),
      'vs bare': ratio(value.rps, c[`bare-proxy/${workload}`]?.rps),
      'vs direct': ratio(value.rps, c[`direct/${workload}`]?.rps),
      'CPU µs/req': Number(value.cpuUsPerRequest.toFixed(1)),
      'p50 ms': Number(value.p50?.toFixed(2)),
      'p99 ms': Number(value.p99?.toFixed(2)),
    };
  }));
  console.table(checkTargets(results).map(([figure, target, measured, verdict]) => ({ figure, target, measured, verdict })));
  console.log(`load average at the end: ${results.load.end.map((value) => value.toFixed(2)).join(' ')}; ${results.elapsedSeconds} s in all`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`npm run bench failed: ${error.stack ?? error}`);
    process.exit(1);
  },
);

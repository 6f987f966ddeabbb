// Render docs/benchmarks.md from one run's bench/results.json and the hand-written record in
// bench/notes.md. `npm run bench` calls renderReport; `node bench/report.mjs` renders the
// page again from the results file alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { renderTargets } from './targets-table.mjs';

const fixed = (value, digits = 1) => (typeof value === 'number' ? value.toFixed(digits) : 'n/a');
const whole = (value) => (typeof value === 'number' ? Math.round(value).toLocaleString('en-US') : 'n/a');
const percent = (value, base) => (typeof value === 'number' && base ? `${Math.round((value / base) * 100)}%` : 'n/a');

function setup(results, lines) {
  const { machine, settings, load } = results;
  lines.push('## Setup', '');
  lines.push(`- Machine: ${machine.cpus} × ${machine.model}, ${machine.memoryGiB} GiB, ${machine.os}; Node ${machine.node}.`);
  lines.push(`- Load average (1, 5, 15 min) at the start: ${load.start.map((v) => v.toFixed(2)).join(', ')}; at the end: ` +
    `${load.end.map((v) => v.toFixed(2)).join(', ')}. ${loadNote(results)}`);
  lines.push(`- riskgate's dependencies: ${Object.entries(results.dependencies).map(([name, version]) => `${name} ${version}`).join(', ')}.`);
  lines.push(`- Benchmark tools: ${Object.entries(results.tools).map(([name, version]) => `${name} ${version}`).join(', ')}.`);
  for (const reason of results.skipped) lines.push(`- Skipped: ${reason}.`);
  lines.push('');
  lines.push('The upstream is a small Node app (`bench/upstream.mjs`) answering `POST /login` (200 for the right ' +
    'password, else 401) and `GET /` with small JSON bodies. Every process runs on this one machine over loopback: ' +
    'the load generator (a process of its own), the upstream, and the proxy under test. The configurations:');
  lines.push('');
  lines.push('- `direct`: the upstream without a proxy.');
  lines.push('- `bare-proxy`: http-proxy with a keep-alive agent, the ceiling for a proxy written in Node.');
  lines.push('- `nginx`: nginx with one worker and keep-alive connections to the upstream, when it is installed.');
  lines.push('- `riskgate-memory` and `riskgate-redis`: the gateway with the default rules and each store. Redis is ' +
    'a private `redis-server` that the benchmark starts, so its statistics count the gateway alone.');
  lines.push('');
  lines.push(`The login workload posts a JSON body whose username rotates over ${whole(settings.usernames)} accounts and ` +
    `whose X-Forwarded-For address rotates over ${whole(settings.addresses)} public IPv4 addresses; one login in four ` +
    'has the right password. The get workload is `GET /`, which riskgate passes through without judging it. ' +
    `Each configuration ran ${settings.rounds} interleaved rounds of ${settings.saturationSeconds} s per workload at ` +
    `${settings.connections} connections, after ${whole(settings.warmUpRequests)} warm-up requests of each workload, and every figure is the ` +
    'median of its rounds. CPU is the user plus system time of the proxy process (`process.cpuUsage`, all its ' +
    'threads), divided by the requests answered; for `direct` it is the upstream\'s.');
  lines.push('');
}

function loadNote(results) {
  const worst = Math.max(...results.load.start, ...results.load.end);
  return worst > results.machine.cpus / 2
    ? 'The machine was shared with other work, so wall-clock figures (req/s, latency) are noisy; ratios within the run and CPU per request are the steadier figures.'
    : 'The machine was otherwise quiet.';
}

function throughput(results, lines) {
  const configurations = results.configurations;
  lines.push('## Throughput and CPU at saturation', '');
  lines.push('| configuration | workload | req/s | vs bare proxy | vs direct | CPU µs/req | CPU beyond bare µs/req | req/s per round |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const [key, value] of Object.entries(configurations)) {
    const [name, workload] = key.split('/');
    const bare = configurations[`bare-proxy/${workload}`];
    const direct = configurations[`direct/${workload}`];
    const beyond = name.startsWith('riskgate') ? fixed(value.cpuUsPerRequest - bare.cpuUsPerRequest) : '';
    lines.push(`| ${name} | ${workload} | ${whole(value.rps)} | ${percent(value.rps, bare?.rps)} | ${percent(value.rps, direct?.rps)} | ` +
      `${fixed(value.cpuUsPerRequest)} | ${beyond} | ${value.rpsSamples.join(', ')} |`);
  }
  lines.push('');
  for (const name of ['riskgate-memory', 'riskgate-redis']) {
    const login = configurations[`${name}/login`];
    if (!login) continue;
    const statuses = Object.entries(login.statuses).map(([status, count]) => `${status}: ${whole(count)}`).join(', ');
    lines.push(`Answers to ${name} logins over all rounds: ${statuses}; transport errors: ${login.errors}. ` +
      'Challenged logins are forwarded with a risk header (challenge mode `forward`), so they reach the app.');
  }
  lines.push('');
}

function latency(results, lines) {
  const configurations = results.configurations;
  lines.push('## Latency at a fixed rate', '');
  lines.push(`Offered rates: ${results.settings.rates.get} req/s for get and ${results.settings.rates.login} req/s for ` +
    'login, half the slowest configuration\'s saturation rate, in ' +
    `${results.settings.rounds} rounds of ${results.settings.latencySeconds} s. These runs use an open-loop client ` +
    `(\`bench/paced.mjs\`, up to ${results.settings.latencyConnections} keep-alive connections). It spaces requests ` +
    'evenly and counts each latency from the moment its request was due. autocannon\'s rate limit sends each ' +
    'second\'s quota back to back instead, so its latency would mostly be queueing. Percentiles are over every ' +
    'response, errors included, in milliseconds.', '');
  lines.push('| configuration | workload | p50 ms | p99 ms | p99 added to bare proxy ms | p99 per round |');
  lines.push('| --- | --- | ---: | ---: | ---: | --- |');
  for (const [key, value] of Object.entries(configurations)) {
    const [name, workload] = key.split('/');
    const bare = configurations[`bare-proxy/${workload}`];
    const added = name.startsWith('riskgate') ? fixed(value.p99 - bare.p99, 2) : '';
    lines.push(`| ${name} | ${workload} | ${fixed(value.p50, 2)} | ${fixed(value.p99, 2)} | ${added} | ${value.p99Samples.join(', ')} |`);
  }
  lines.push('');
}

function redis(results, lines) {
  const figures = results.redis;
  lines.push('## Redis per login', '');
  if (!figures) {
    lines.push('Not measured: no private Redis server could be started.', '');
    return;
  }
  const list = (commands) => Object.entries(commands).map(([name, calls]) => `${name} ${calls}`).join(', ');
  lines.push(`Over ${whole(figures.logins)} logins at ${figures.connections} connections, from the private server's ` +
    '`INFO commandstats` and `INFO stats` before and after:', '');
  lines.push(`- ${fixed(figures.sentPerLogin)} commands sent per login (${list(figures.sentByName)}).`);
  lines.push(`- ${fixed(figures.scriptCallsPerLogin)} more that riskgate's Lua scripts ran inside Redis ` +
    `(${list(figures.scriptCallsByName)}), ${fixed(figures.commandsPerLogin)} in all.`);
  lines.push(`- ${fixed(figures.storeRoundTripsPerLogin, 2)} store round trips per login as the gateway counts them ` +
    '(one pipeline before the decision, one after the outcome).');
  lines.push(`- ${fixed(figures.serverReadsPerLogin, 2)} socket reads per login on the server: ioredis auto-pipelining ` +
    'sends the commands of concurrent logins in one write, so this is below the gateway\'s count.');
  lines.push(`- ${figures.fallbackRoundTrips} round trips went to the memory fallback during the count.`);
  lines.push('');
}

function memory(results, lines) {
  const { memory: gateway, store } = results;
  lines.push('## Memory', '');
  lines.push(`After ${whole(gateway.logins)} logins, each from a new username and a new address, the memory-store ` +
    `gateway was resident in ${fixed(gateway.rssMiB)} MiB, against ${fixed(gateway.rssStartMiB)} MiB before the ` +
    'logins. The CPU profiler ran meanwhile and accounts for a few MiB of that. The gateway held ' +
    `${whole(gateway.storeEntries)} store entries and ${fixed(gateway.heapMiB)} MiB of heap after a forced ` +
    `garbage collection: ${whole(gateway.heapBytesPerEntry)} bytes of heap growth per entry, counter keys, ` +
    'account profiles and counter indexes together.', '');
  lines.push(`Measured on the store alone (\`bench/memory.mjs\`, heap growth after a forced collection): ` +
    `${whole(store.countKeyBytes)} bytes per count counter key and ${whole(store.distinctKeyBytes)} bytes per ` +
    'distinct-username counter key with one member, key string included. A flood of ' +
    `${whole(store.flood.keysWritten)} distinct keys into a store bounded at ${whole(store.flood.maxEntries)} ` +
    `entries left ${whole(store.flood.entriesAfter)} entries and ${fixed(store.flood.heapGrowthMiB)} MiB of heap growth; ` +
    `once full, each write that evicts a key took ${fixed(store.flood.cpuUsPerEvictingWrite)} µs of CPU (counter key ` +
    'digest included).', '');
  lines.push('### Account profiles', '');
  lines.push(`Bytes per account profile: a typical one after one successful login, and a full one with ` +
    `${store.maxValuesPerFeature} values in every feature (the default cap). Memory store: heap growth per ` +
    'profile; Redis: `MEMORY USAGE` of the profile hash.', '');
  lines.push('| store | typical | full |', '| --- | ---: | ---: |');
  lines.push(`| memory | ${whole(store.profileBytes.memory.typical)} | ${whole(store.profileBytes.memory.full)} |`);
  if (store.profileBytes.redis) {
    lines.push(`| Redis | ${whole(store.profileBytes.redis.typical)} | ${whole(store.profileBytes.redis.full)} |`);
  }
  lines.push('');
}

function replay(results, lines) {
  const { engine, file } = results.replay;
  lines.push('## Replay', '');
  lines.push(`The replay engine (\`bench/replay-rate.mjs\`: counters in memory and the default rules, on ` +
    `${whole(engine.events)} synthetic logins from \`src/replay/synthetic.ts\`) re-scored ` +
    `${whole(engine.eventsPerSecond)} events per second. \`riskgate replay --json\` on the ${whole(file.events)} ` +
    `decision lines the memory phase logged ran at ${whole(file.eventsPerSecond)} events per second by its own ` +
    'count, reading and parsing about 2 KB of JSON a line included; the whole command, Node start-up included, ' +
    `took ${fixed(file.wallSeconds, 2)} s.`, '');
}

function profile(results, lines) {
  const summary = results.profile;
  lines.push('## Where the gateway\'s CPU goes', '');
  lines.push(`\`node --cpu-prof\` on the memory-store gateway of the memory phase: ${whole(summary.requests)} logins, ` +
    `each from a new username and address, at ${whole(summary.rps)} req/s and ${fixed(summary.cpuUsPerRequest)} µs ` +
    'of CPU per login with the profiler on. Self time by area of code, as a share of the main thread\'s ' +
    'busy samples. Samples are taken at wall-clock intervals. So the code that was running when the thread ' +
    'was preempted, most often a system call (`(native)`) that woke another process, also gets the time the ' +
    'thread waited for the CPU, and that share grows with the machine\'s load:', '');
  lines.push('| area | share |', '| --- | ---: |');
  for (const area of summary.areas) lines.push(`| ${area.name} | ${fixed(area.share * 100)}% |`);
  lines.push('', 'Top functions by self time:', '');
  lines.push('| function | share |', '| --- | ---: |');
  for (const entry of summary.functions) lines.push(`| \`${entry.name}\` | ${fixed(entry.share * 100)}% |`);
  lines.push('');
}

/** Render the whole page from a results object and the notes text. */
export function renderReport(results, notes) {
  const lines = ['# Benchmarks', ''];
  lines.push(`Generated by \`npm run bench\` (bench/run.mjs) on ${results.generatedAt}${results.quick ? ' with --quick' : ''}, ` +
    'from bench/results.json; `node bench/report.mjs` renders it again from that file. Do not edit it by hand: ' +
    'the optimisation record at the end comes from bench/notes.md.', '');
  setup(results, lines);
  throughput(results, lines);
  latency(results, lines);
  renderTargets(results, lines);
  redis(results, lines);
  memory(results, lines);
  replay(results, lines);
  profile(results, lines);
  if (notes) lines.push(notes.trim(), '');
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = new URL('..', import.meta.url);
  const results = JSON.parse(readFileSync(new URL('bench/results.json', root), 'utf8'));
  const notesFile = new URL('bench/notes.md', root);
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '';
  writeFileSync(new URL('docs/benchmarks.md', root), renderReport(results, notes));
}

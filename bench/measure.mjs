// Load runs against the configurations: saturation rounds, fixed-rate latency rounds, and
// the median of each figure. Configurations take turns within a round, and the order turns
// by one each round, so a burst of noise from other work on the machine lands on different
// configurations and the medians keep it out.
import { runLoad } from './children.mjs';

export const WORKLOADS = ['get', 'login'];

/** Usernames and addresses the load rotates over; coprime, so pairs do not repeat in step. */
const POOLS = { usernames: 100_000, addresses: 99_991 };

export function median(values) {
  const sorted = values.filter((value) => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Rotate `items` left by `by` places. */
function rotated(items, by) {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** A source of login sequence numbers, so no two runs send the same logins. */
export class LoginSequence {
  next = 1;

  take(count) {
    const offset = this.next;
    this.next += count;
    return offset;
  }
}

/**
 * Send `requests` requests of every workload to every target, so V8 has compiled the hot
 * paths and the connection pools are full before anything is measured. A count rather
 * than a duration, because a slow target would otherwise be measured less warm.
 */
export async function warmUp(targets, requests, sequence, connections) {
  for (const workload of WORKLOADS) {
    for (const target of targets) {
      await runLoad({ url: target.url, workload, amount: requests, connections, ...POOLS, offset: sequence.take(1_000_000) });
    }
  }
}

/**
 * Saturation rounds: requests per second with `connections` concurrent connections, and
 * the target's CPU time per request over the same run. Returns samples by `target/workload`.
 */
export async function saturationRounds(targets, { rounds, seconds, connections, sequence, log }) {
  const samples = {};
  for (let round = 0; round < rounds; round += 1) {
    for (const workload of WORKLOADS) {
      for (const target of rotated(targets, round)) {
        const cpuBefore = await target.cpuUs();
        const result = await runLoad({
          url: target.url, workload, duration: seconds, connections, ...POOLS, offset: sequence.take(1_000_000),
        });
        const cpuUs = (await target.cpuUs()) - cpuBefore;
        const sample = {
          rps: result.rps,
          cpuUsPerRequest: cpuUs / Math.max(1, result.requests),
          statuses: result.statuses,
          errors: result.errors,
        };
        (samples[`${target.name}/${workload}`] ??= []).push(sample);
        log(`round ${round + 1}/${rounds} ${target.name}/${workload}: ${Math.round(sample.rps)} req/s, ` +
          `${sample.cpuUsPerRequest.toFixed(1)} µs CPU/req`);
      }
    }
  }
  return samples;
}

/**
 * Latency rounds at a fixed offered rate per workload (`rates`), the same for every
 * target, below every target's saturation so queueing does not hide the proxy's own cost.
 */
export async function latencyRounds(targets, { rounds, seconds, connections, rates, sequence, log }) {
  const samples = {};
  for (let round = 0; round < rounds; round += 1) {
    for (const workload of WORKLOADS) {
      for (const target of rotated(targets, round)) {
        const result = await runLoad({
          url: target.url, workload, duration: seconds, connections, rate: rates[workload], ...POOLS,
          offset: sequence.take(1_000_000),
        });
        (samples[`${target.name}/${workload}`] ??= []).push({ p50: result.p50, p99: result.p99, rps: result.rps });
        log(`latency ${round + 1}/${rounds} ${target.name}/${workload} at ${rates[workload]} req/s: ` +
          `p50 ${result.p50?.toFixed(2)} ms, p99 ${result.p99?.toFixed(2)} ms`);
      }
    }
  }
  return samples;
}

/** Return the fixed rate for a workload: half the slowest target's median saturation rate, in hundreds. */
export function fixedRate(saturation, targets, workload) {
  const slowest = Math.min(...targets.map((target) => median(saturation[`${target.name}/${workload}`].map((s) => s.rps))));
  return Math.max(100, Math.floor(slowest / 2 / 100) * 100);
}

/** Combine saturation and latency samples into one figure set per `target/workload`. */
export function summarise(saturation, latency) {
  const configurations = {};
  for (const [key, runs] of Object.entries(saturation)) {
    const timed = latency[key] ?? [];
    configurations[key] = {
      rps: median(runs.map((run) => run.rps)),
      cpuUsPerRequest: median(runs.map((run) => run.cpuUsPerRequest)),
      p50: median(timed.map((run) => run.p50)),
      p99: median(timed.map((run) => run.p99)),
      rpsSamples: runs.map((run) => Math.round(run.rps)),
      cpuSamples: runs.map((run) => Number(run.cpuUsPerRequest.toFixed(1))),
      p99Samples: timed.map((run) => Number(run.p99?.toFixed(3))),
      statuses: mergeCounts(runs.map((run) => run.statuses)),
      errors: runs.reduce((total, run) => total + run.errors, 0),
    };
  }
  return configurations;
}

function mergeCounts(list) {
  const total = {};
  for (const counts of list) {
    for (const [status, count] of Object.entries(counts)) total[status] = (total[status] ?? 0) + count;
  }
  return total;
}

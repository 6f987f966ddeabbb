// An open-loop load at a fixed rate, for latency. autocannon's rate limit lets each
// connection send its quota for the second back to back and then wait for the next one,
// so its "fixed rate" arrives in bursts and the latency it reports is mostly queueing.
// Here requests are spaced evenly in time, whether or not earlier ones have had a response,
// and each latency is counted from the moment its request was due.
import http from 'node:http';

import { USER_AGENT, loginSequence, percentile } from './traffic.mjs';

/** Milliseconds between pacing ticks; each tick sends every request that has come due. */
const TICK_MS = 1;

function send(agent, url, workload, nextLogin) {
  const login = workload === 'login' ? nextLogin() : undefined;
  return new Promise((resolve) => {
    const request = http.request(
      url,
      {
        agent,
        method: login ? 'POST' : 'GET',
        path: login ? '/login' : '/',
        headers: login ? { ...login.headers, 'content-length': Buffer.byteLength(login.body) } : { 'user-agent': USER_AGENT },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
        response.on('error', () => resolve('error'));
      },
    );
    request.on('error', () => resolve('error'));
    request.end(login?.body);
  });
}

/** Send `spec.rate` requests a second for `spec.duration` seconds over up to `spec.connections` sockets. */
export async function runPaced(spec) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections ?? 32 });
  const nextLogin = loginSequence(spec);
  const total = Math.round(spec.rate * spec.duration);
  const intervalMs = 1000 / spec.rate;
  const latencies = [];
  const statuses = {};
  const pending = [];
  const started = performance.now();
  let sent = 0;

  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (sent < total && started + sent * intervalMs <= now) {
        const due = started + sent * intervalMs;
        sent += 1;
        pending.push(
          send(agent, spec.url, spec.workload, nextLogin).then((status) => {
            latencies.push(performance.now() - due);
            statuses[status] = (statuses[status] ?? 0) + 1;
          }),
        );
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();

  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    statuses,
    errors: statuses.error ?? 0,
  };
}

// The load generator, in a process of its own that the benchmark starts once: each IPC
// message `{ spec }` is one run, and the reply `{ result }` or `{ error }` its figures.
// Saturation runs use autocannon, closed-loop at a number of connections. A run with a
// `rate` is paced instead (see paced.mjs). Latency is recorded here from every response,
// because autocannon's own histogram keeps whole milliseconds and 2xx responses only.
import autocannon from 'autocannon';

import { runPaced } from './paced.mjs';
import { USER_AGENT, loginSequence, percentile } from './traffic.mjs';

async function runAutocannon(spec) {
  const nextLogin = loginSequence(spec);
  const options = {
    url: spec.url,
    connections: spec.connections ?? 50,
    pipelining: 1,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.duration }),
    requests:
      spec.workload === 'login'
        ? [{ method: 'POST', path: '/login', setupRequest: (request) => Object.assign(request, nextLogin()) }]
        : [{ method: 'GET', path: '/', headers: { 'user-agent': USER_AGENT } }],
  };

  const latencies = [];
  const statuses = {};
  const instance = autocannon(options);
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    latencies.push(responseTime);
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
  });
  const result = await instance;

  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    seconds: result.duration,
    rps: latencies.length / result.duration,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    statuses,
    errors: result.errors + result.timeouts,
  };
}

process.on('message', async ({ spec }) => {
  try {
    process.send({ result: spec.rate ? await runPaced(spec) : await runAutocannon(spec) });
  } catch (error) {
    process.send({ error: error instanceof Error ? error.message : String(error) });
  }
});

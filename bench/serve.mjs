// One proxy under test, in its own process: `bare` (http-proxy with a keep-alive agent, the
// ceiling for a Node proxy) or `riskgate` with the memory or Redis store. It listens on a
// free loopback port, sends `{ ready: port }` over IPC, and replies to IPC messages:
//   'cpu'    -> { cpu, roundTrips, fallbackRoundTrips } without disturbing the process;
//   'memory' -> { rss, heapUsed, storeEntries } after a forced garbage collection;
//   'stop'   -> closes the gateway, flushes its log and exits, so a --cpu-prof profile is written.
import http from 'node:http';

import httpProxy from 'http-proxy';

const [kind, storeUrl, upstream, prefix, logFile] = process.argv.slice(2);
let storeFigures = () => ({});
let close = async () => {};

function listening(server) {
  server.listen(0, '127.0.0.1', () => process.send({ ready: server.address().port }));
}

if (kind === 'bare') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true });
  proxy.on('error', (_error, _request, response) => {
    response.writeHead?.(502);
    response.end?.();
  });
  const server = http.createServer((request, response) => proxy.web(request, response));
  server.keepAliveTimeout = 60_000;
  listening(server);
} else if (kind === 'riskgate') {
  const { loadConfigObject } = await import('../dist/config/load.js');
  const { startGateway } = await import('../dist/gateway.js');
  const { createLogger } = await import('../dist/log/logger.js');
  const root = new URL('..', import.meta.url).pathname;
  const config = loadConfigObject(
    {
      listen: '127.0.0.1:0',
      upstream,
      // The load generator sends X-Forwarded-For from loopback, so every login shows a
      // client address of its own, as behind a load balancer.
      trusted_proxies: ['127.0.0.1/32'],
      // A loaded 2-core machine can stall a reply past the 50 ms default and start an
      // outage, after which the memory fallback would be measured instead of Redis.
      store: { url: storeUrl, key_prefix: prefix, timeout: '1s', memory_max_entries: 1_000_000 },
      // Challenged logins are forwarded with a risk header, so every login reaches the app.
      challenge: { mode: 'forward' },
      admin: { listen: '127.0.0.1:0' },
      log: { destination: logFile },
    },
    root,
    { env: {}, secret: 'bench-secret-0123456789abcdef0123456789abcdef' },
  );
  const log = createLogger(config.log);
  const gateway = await startGateway(config, { logger: log.logger });
  storeFigures = () => ({
    roundTrips: gateway.context.store.primary.roundTrips,
    fallbackRoundTrips: gateway.context.store.fallback.roundTrips,
    storeEntries: gateway.context.store.primary.size ?? null,
  });
  close = async () => {
    await gateway.close();
    log.flush();
  };
  process.send({ ready: Number(new URL(gateway.url).port) });
} else {
  throw new Error(`unknown proxy kind "${kind}": use bare or riskgate`);
}

process.on('message', (message) => {
  if (message === 'cpu') {
    process.send({ cpu: process.cpuUsage(), ...storeFigures() });
  } else if (message === 'memory') {
    global.gc?.();
    const memory = process.memoryUsage();
    process.send({ rss: memory.rss, heapUsed: memory.heapUsed, ...storeFigures() });
  } else if (message === 'stop') {
    close().finally(() => process.exit(0));
  }
});

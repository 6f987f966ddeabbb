// One proxy under test, in its own process: `bare` (http-proxy with a keep-alive agent,
// the ceiling for a Node proxy) or `riskgate` with the memory or Redis store. It answers
// IPC requests for its CPU time, memory and store figures.
import http from 'node:http';

import httpProxy from 'http-proxy';

const [kind, store, portText, upstream, prefix] = process.argv.slice(2);
const port = Number(portText);
let figures = () => ({});

if (kind === 'bare') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true });
  proxy.on('error', (_error, _request, response) => {
    response.writeHead?.(502);
    response.end?.();
  });
  const server = http.createServer((request, response) => proxy.web(request, response));
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => process.send({ ready: port }));
} else {
  const { loadConfigObject } = await import('../dist/config/load.js');
  const { startGateway } = await import('../dist/gateway.js');
  const { createLogger } = await import('../dist/log/logger.js');
  const root = new URL('..', import.meta.url).pathname;
  const config = loadConfigObject(
    {
      listen: `127.0.0.1:${port}`,
      upstream,
      trusted_proxies: ['127.0.0.1/32'],
      store: { url: store === 'redis' ? 'redis://127.0.0.1:6379/0' : 'memory', key_prefix: prefix, memory_max_entries: 1_000_000 },
      challenge: { mode: 'forward' },
      admin: { listen: '127.0.0.1:0' },
      log: { destination: `/tmp/riskgate-bench-${store}.log` },
    },
    root,
    { env: {}, secret: 'bench-secret-0123456789abcdef0123456789abcdef' },
  );
  const log = createLogger(config.log);
  const gateway = await startGateway(config, { logger: log.logger });
  figures = () => {
    const primary = gateway.context.store.primary;
    return { roundTrips: primary.roundTrips, storeEntries: primary.size ?? null };
  };
  process.send({ ready: port });
}

process.on('message', (message) => {
  if (message === 'figures') {
    if (global.gc) global.gc();
    const memory = process.memoryUsage();
    process.send({ cpu: process.cpuUsage(), rss: memory.rss, heapUsed: memory.heapUsed, ...figures() });
  }
});

// The benchmark's upstream: a tiny login app on loopback with small bodies. It listens on
// the port given (a free one for 0), sends `{ ready: port }` over IPC, and replies to
// 'cpu' with its CPU time and to 'stop' by exiting.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const ok = JSON.stringify({ ok: true });
const denied = JSON.stringify({ ok: false });
const home = JSON.stringify({ page: 'home' });

const server = http.createServer((request, response) => {
  if (request.method === 'POST') {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const accepted = Buffer.concat(chunks).includes('"password":"wonderland"');
      response.writeHead(accepted ? 200 : 401, { 'content-type': 'application/json' });
      response.end(accepted ? ok : denied);
    });
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(home);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.send?.({ ready: server.address().port }));

process.on('message', (message) => {
  if (message === 'cpu') process.send({ cpu: process.cpuUsage() });
  else if (message === 'stop') process.exit(0);
});

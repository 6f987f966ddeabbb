import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import t, { type Test } from 'tap';

import { createUpstream, forwardRequest, type ForwardResult } from '../../src/proxy/forward.js';

/** Start a server on a free loopback port and stop it at the end of the test. */
async function listen(t: Test, handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

/** Send `GET /page` over a raw socket and return what arrived once it ends with `suffix`. */
function getUntil(port: number, suffix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.endsWith(suffix)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.write('GET /page HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n');
  });
}

t.test('last chunk waits for beforeEnd', async (t) => {
  // The app frames its body by Content-Length and sends it in two pieces, so a client has
  // the whole response as soon as the second piece arrives, before any end-of-message mark.
  const appPort = await listen(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
    response.write('hello');
    void delay(100).then(() => response.end('world'));
  });
  const upstream = createUpstream(new URL(`http://127.0.0.1:${appPort}`), 1000, 5000);
  t.teardown(() => upstream.agent.destroy());

  let handedOver: number | undefined;
  let result: ForwardResult | undefined;
  const gatewayPort = await listen(t, (request, response) => {
    void forwardRequest(upstream, request, response, {
      headers: { host: `127.0.0.1:${appPort}` },
      beforeEnd: (answered) => {
        result = answered;
        // Bytes given to the client's socket so far, sent or still queued.
        handedOver = response.socket?.bytesWritten;
      },
    });
  });

  const received = await getUntil(gatewayPort, 'helloworld');

  t.match(received, /^HTTP\/1\.1 200 OK\r\n/, 'the client has the whole response');
  t.equal(result?.status, 200, 'beforeEnd saw the status');
  t.equal(handedOver, Buffer.byteLength(received, 'latin1') - 'world'.length,
    'the last piece was handed to the client only after beforeEnd ran');
});

t.test('without beforeEnd chunks stream through', async (t) => {
  const appPort = await listen(t, (_request, response) => {
    response.writeHead(200, { 'content-length': '10' });
    response.write('hello');
    void delay(100).then(() => response.end('world'));
  });
  const upstream = createUpstream(new URL(`http://127.0.0.1:${appPort}`), 1000, 5000);
  t.teardown(() => upstream.agent.destroy());
  const gatewayPort = await listen(t, (request, response) => {
    void forwardRequest(upstream, request, response, { headers: { host: `127.0.0.1:${appPort}` } });
  });

  // The first piece reaches the client before the app sends the second.
  const firstPieceAt = await getUntil(gatewayPort, 'hello');

  t.match(firstPieceAt, /\r\n\r\nhello$/, 'the first piece is relayed before the app ends');
});

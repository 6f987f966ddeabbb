import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import t from 'tap';

import { login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { websocketAccept } from '../../src/proxy/websocket.js';
import { rawExchange } from './raw.js';

/** Build the 101 head a WebSocket server sends for `key`. */
function handshake(key: string): string {
  return `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${websocketAccept(key)}\r\n\r\n`;
}

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==';

t.test('upgrade requests on login paths are rejected', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (const target of ['/login', '/LOGIN/', '/%6cogin', '/login%00']) {
    for (const method of ['GET', 'POST']) {
      const body = '{"username":"alice","password":"wonderland"}';
      const exchange = await rawExchange(gateway.port,
        `${method} ${target} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      t.ok(exchange.statuses[0] === 400 || exchange.statuses.length === 0, `${method} ${target}: refused`);
    }
  }
  t.equal(upstream.requests.length, 0, 'no upgrade on a login path reached the app');
});

t.test('proxied upgrades carry the address riskgate resolved', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  await rawExchange(gateway.port, [
    'GET /socket HTTP/1.1',
    'Host: x',
    UPGRADE,
    'X-Forwarded-For: 203.0.113.1',
    'X-Real-IP: 203.0.113.1',
    'True-Client-IP: 203.0.113.1',
    'Forwarded: for=203.0.113.1',
    'Riskgate-Risk: forged',
    '',
    '',
  ].join('\r\n'), { source: '127.0.0.9' });

  t.equal(upstream.requests.length, 1, 'the upgrade was proxied');
  const headers = upstream.requests[0].headers;
  t.equal(headers['x-forwarded-for'], '127.0.0.9');
  t.equal(headers['x-real-ip'], '127.0.0.9');
  t.equal(headers['true-client-ip'], undefined);
  t.equal(headers.forwarded, undefined);
  t.equal(headers['riskgate-risk'], undefined, 'a client cannot hand the app a risk header');
  t.equal(headers.upgrade, 'websocket', 'the upgrade itself is kept');
  t.match(headers['sec-websocket-key'], /^[A-Za-z0-9+/]{22}==$/, 'the app gets a WebSocket key');
  t.not(headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==', "the key is riskgate's own, not the client's");
});

t.test('upgrades other than WebSocket are rejected', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // An h2c upgrade the app accepted would carry HTTP/2 logins past the gateway.
  const upgrades = [
    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
    'Connection: Upgrade\r\nUpgrade: websocket, h2c',
    'Connection: Upgrade\r\nUpgrade: tls/1.3',
  ];
  for (const upgrade of upgrades) {
    const exchange = await rawExchange(gateway.port, `GET /socket HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n\r\n`);
    t.equal(exchange.statuses[0], 400, `${upgrade.split('\r\n')[1]}: 400`);
    t.equal(exchange.closedByServer, true, `${upgrade.split('\r\n')[1]}: the connection is closed`);
  }

  t.equal(upstream.requests.length, 0, 'no such upgrade reached the app');
  const rejections = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'upgrade to a protocol other than WebSocket');
  t.equal(rejections.length, upgrades.length, 'each rejection is logged with its reason');
});

t.test("an app's refusal of an upgrade reaches the client with framing that matches its body", async (t) => {
  // The app refuses WebSocket upgrades with a chunked response, as a framework error page may.
  const app = http.createServer((request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain' });
    response.write('upgrade refused: ');
    response.end('0\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
  t.teardown(async () => {
    await gateway.close();
    await new Promise((resolve) => app.close(resolve));
  });

  // Node's own client parses the response, as a browser or SDK on that connection would.
  const reply = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const request = http.get({
      port: gateway.port,
      host: '127.0.0.1',
      path: '/socket',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('upgrade', () => reject(new Error('the refused upgrade was reported as accepted')));
    request.on('error', reject);
  });

  t.equal(reply.status, 426, "the app's status reaches the client");
  t.equal(reply.body, 'upgrade refused: 0\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', "the client reads the app's body byte for byte");
  t.equal(reply.headers['transfer-encoding'], undefined, 'no chunked framing is claimed for a de-chunked body');
  t.equal(reply.headers.connection, 'close', 'the body ends where the connection closes');
});

t.test('a client that resets an upgrade connection does not stop the gateway', async (t) => {
  // The app waits before it refuses, so the reset lands while the upgrade is in flight.
  const app = http.createServer((request, response) => {
    setTimeout(() => response.writeHead(426).end(), 100);
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const upstream = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const gateway = await startTestGateway({ upstream });
  t.teardown(async () => {
    await gateway.close();
    await new Promise((resolve) => app.close(resolve));
  });

  const request = `GET /PATH HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`;
  for (const path of ['/login', '/socket']) {
    for (const delayMs of [0, 20]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(gateway.port, '127.0.0.1', () => {
          socket.write(request.replace('/PATH', path), () => setTimeout(() => socket.resetAndDestroy(), delayMs));
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
    }
  }
  // A reset socket's error reaches the gateway a moment after the client closes.
  await new Promise((resolve) => setTimeout(resolve, 300));

  const reply = await login(gateway.port, 'alice', 'wonderland');
  t.not(reply.status, 0, 'the gateway still answers logins');
  t.equal(gateway.server.listening, true, 'the gateway still listens');
});

t.test('a refused upgrade with bytes after its head leaves no socket open', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  // The app refuses the upgrade on /page with a 200; riskgate itself refuses it on /login.
  for (const path of ['/page', '/login']) {
    for (let index = 0; index < 5; index += 1) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(gateway.port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\nx`));
        socket.once('data', () => socket.end());
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));

  const open = await new Promise<number>((resolve, reject) =>
    gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  t.equal(open, 0, 'every refused upgrade connection is closed');
});

t.test('an open WebSocket tunnel does not hold up shutdown', async (t) => {
  // The app accepts the upgrade and keeps the tunnel open.
  const app = http.createServer();
  const tunnels: Duplex[] = [];
  app.on('upgrade', (request, socket: Duplex) => {
    tunnels.push(socket);
    socket.write(handshake(String(request.headers['sec-websocket-key'])));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of tunnels) socket.destroy();
    return new Promise((resolve) => app.close(resolve));
  });
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });

  const client = net.connect(gateway.port, '127.0.0.1', () => client.write(`GET /socket HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`));
  client.on('error', () => {});
  await new Promise((resolve) => client.once('data', resolve));

  const closed = await Promise.race([
    gateway.close().then(() => 'closed'),
    new Promise((resolve) => setTimeout(() => resolve('still open after 3 s'), 3000)),
  ]);
  t.equal(closed, 'closed', 'the gateway closes with the tunnel open');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(tunnels[0]?.destroyed || tunnels[0]?.readableEnded, true, "the tunnel's app side is closed too");
  client.destroy();
});

t.test('a WebSocket tunnel opens on a real handshake and carries bytes both ways', async (t) => {
  // The app completes the handshake for the key it received, then echoes what arrives.
  const app = http.createServer();
  const tunnels: Duplex[] = [];
  app.on('upgrade', (request, socket: Duplex, head: Buffer) => {
    tunnels.push(socket);
    socket.on('error', () => {});
    socket.write(handshake(String(request.headers['sec-websocket-key'])));
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
  t.teardown(async () => {
    for (const socket of tunnels) socket.destroy();
    await gateway.close();
    await new Promise((resolve) => app.close(resolve));
  });

  const received = await new Promise<string>((resolve, reject) => {
    let text = '';
    const client = net.connect(gateway.port, '127.0.0.1', () => client.write(`GET /socket HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\nearly`));
    client.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.endsWith('early')) client.write('late');
      if (text.endsWith('late')) {
        client.destroy();
        resolve(text);
      }
    });
    client.on('error', reject);
  });

  t.match(received, /^HTTP\/1\.1 101 /, 'the client sees the 101');
  t.match(received, `Sec-WebSocket-Accept: ${websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')}\r\n`, "the accept value answers the client's key");
  t.ok(received.endsWith('\r\n\r\nearlylate'), 'bytes sent with the head and after it come back');
});

t.test('a 101 without a WebSocket handshake opens no tunnel', async (t) => {
  // A status echo responds with 101 and any headers the query names, as httpbin's /status and
  // /response-headers do, and then reads what comes. The client asks for the accept value
  // of its own key, then sends logins that an open tunnel would carry to the app unjudged.
  const echo = http.createServer();
  const tunnelled: Buffer[] = [];
  let upgrades = 0;
  echo.on('upgrade', (request, socket: Duplex) => {
    upgrades += 1;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => tunnelled.push(chunk));
    socket.on('end', () => socket.end());
    const accept = new URL(request.url ?? '/', 'http://x').searchParams.get('accept');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${accept ? `Sec-WebSocket-Accept: ${accept}\r\n` : ''}\r\n`);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(echo.address() as AddressInfo).port}` });
  t.teardown(async () => {
    await gateway.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  const login = '{"username":"alice","password":"guess"}';
  const logins = `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${login.length}\r\n\r\n${login}`.repeat(3);
  for (const accept of ['', websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')]) {
    const target = `/status?code=101${accept ? `&accept=${encodeURIComponent(accept)}` : ''}`;
    const exchange = await rawExchange(gateway.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n${logins}`);

    t.equal(exchange.statuses[0], 502, `${target}: 502`);
    t.equal(exchange.statuses.length, 1, `${target}: nothing after the refusal`);
    t.equal(exchange.closedByServer, true, `${target}: the connection is closed`);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));

  t.equal(upgrades, 2, 'the app saw each upgrade');
  t.equal(Buffer.concat(tunnelled).length, 0, 'no byte after an upgrade reached the app');
  const refusals = gateway.logs.lines.filter((line) => line.message === 'websocket upgrade refused: the app answered 101 without a WebSocket handshake');
  t.equal(refusals.length, 2, 'each refusal is logged');
});

t.test('a bare 101 from the app is never relayed', async (t) => {
  // An app that responds to every request with a 101 and no Upgrade or Connection header. A
  // proxy in front that saw the 101 would take the client's connection for a tunnel.
  const requests: string[] = [];
  const app = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (chunk: Buffer) => {
      requests.push(chunk.toString('latin1').split('\r\n')[0]);
      socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
  t.teardown(async () => {
    await gateway.close();
    await new Promise((resolve) => app.close(resolve));
  });

  const upgrade = await rawExchange(gateway.port, `GET /status?code=101 HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n\r\n`);
  const plain = await rawExchange(gateway.port, 'GET /status?code=101 HTTP/1.1\r\nHost: x\r\n\r\n');

  t.equal(upgrade.statuses[0], 502, 'an upgrade answered by a bare 101 gets 502');
  t.equal(upgrade.closedByServer, true, 'and its connection is closed');
  t.equal(plain.statuses[0], 502, 'a plain request answered by 101 gets 502');
  t.same(requests, ['GET /status?code=101 HTTP/1.1', 'GET /status?code=101 HTTP/1.1'], 'the app saw both requests');
  const refusals = gateway.logs.lines.filter((line) => line.message === 'websocket upgrade refused: the app answered 101 without a WebSocket handshake');
  t.equal(refusals.length, 1, 'the refused upgrade is logged');
  const failures = gateway.logs.lines.filter((line) => line.message === 'upstream request failed');
  t.match(failures[0]?.err.message, /101 Switching Protocols to a request without an upgrade/, 'the rejected 101 is logged');
  t.match(plain.text, /invalid upstream response/, 'the client is told why');
});

t.test('an upgrade without a valid WebSocket key is rejected', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const upgrades = [
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13',
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short',
    `${UPGRADE}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==`,
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  ];
  for (const upgrade of upgrades) {
    const exchange = await rawExchange(gateway.port, `GET /socket HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n\r\n`);
    t.equal(exchange.statuses[0], 400, `${JSON.stringify(upgrade)}: 400`);
  }
  t.equal(upstream.requests.length, 0, 'no such upgrade reached the app');
});

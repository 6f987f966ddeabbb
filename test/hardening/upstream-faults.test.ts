import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

import t, { type Test } from 'tap';

import { login, send, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';
import { RedisLink } from './redis-link.js';

const TIMEOUTS = { upstream_timeouts: { connect: '1s', response: '500ms' } };
const BODY = '{"username":"faulty","password":"wonderland"}';

/** A loopback port that nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function upstreamErrors(gateway: TestGateway) {
  return gateway.logs.lines.filter((line) => line.log.level === 'error' && String(line.message).startsWith('upstream'));
}

/** Check the faulty logins were logged once each and did not count as failed logins. */
async function assertNotCounted(t: Test, gateway: TestGateway, upstreamOrigin: string, faults: number) {
  const decisions = await waitForDecisions(gateway.logs, faults);
  for (const line of decisions.slice(0, faults)) {
    t.equal(line.event.outcome, 'unknown', 'a fault is neither success nor failure');
    t.ok(line.riskgate.upstream_error, 'the decision line names the upstream fault');
  }
  const errors = upstreamErrors(gateway);
  t.equal(errors.length, faults, 'one error line per faulty login');
  for (const line of errors) {
    t.equal(line.upstream, upstreamOrigin, 'the error line names the upstream');
    t.ok(line.err?.message, 'the error line carries the error');
    t.ok(decisions.some((decision) => decision.http.request.id === line.http.request.id), 'the error line names the request');
  }
}

/** Start an app that responds 401 to each request after `delayMs` and counts the requests. */
async function slowApp(t: Test, delayMs: number) {
  let received = 0;
  const app = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      setTimeout(() => {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end('{"error":"invalid credentials"}');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(app.address() as AddressInfo).port}`, received: () => received };
}

async function assertNoFailuresCounted(t: Test, gateway: TestGateway, faults: number) {
  await login(gateway.port, 'faulty', 'wonderland');
  const decisions = await waitForDecisions(gateway.logs, faults + 1);
  const after = decisions[faults].riskgate.counters;
  t.equal(after.failures_per_account, 0, 'no failure was counted for the account');
  t.equal(after.failures_per_ip, 0, 'no failure was counted for the address');
}

t.test('app down answers 502 within the connect timeout', async (t) => {
  const origin = `http://127.0.0.1:${await closedPort()}`;
  const gateway = await startTestGateway({ upstream: origin, config: TIMEOUTS });
  t.teardown(() => gateway.close());

  for (let index = 0; index < 3; index += 1) {
    const started = performance.now();
    const reply = await login(gateway.port, 'faulty', 'wonderland');
    const elapsed = performance.now() - started;
    t.equal(reply.status, 502);
    t.equal(reply.headers['content-type'], 'application/problem+json');
    t.equal(reply.json().status, 502, 'the body is a problem document');
    t.ok(elapsed < 1500, `answered within the connect timeout (${elapsed.toFixed(0)} ms)`);
  }

  await assertNotCounted(t, gateway, origin, 3);
  await assertNoFailuresCounted(t, gateway, 3);
});

t.test('hanging app answers 504 after the response timeout', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'hang';
  const gateway = await startTestGateway({ upstream: upstream.url, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 3; index += 1) {
    const started = performance.now();
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { idleMs: 3000 });
    const elapsed = performance.now() - started;
    t.equal(exchange.statuses[0], 504);
    t.ok(elapsed >= 450, `not before the timeout (${elapsed.toFixed(0)} ms)`);
    t.ok(elapsed < 1500, `soon after the timeout (${elapsed.toFixed(0)} ms)`);
    t.equal(exchange.closedByServer, true, 'the gateway closes the client connection');
  }

  await assertNotCounted(t, gateway, upstream.url, 3);
  upstream.behaviour = 'normal';
  await assertNoFailuresCounted(t, gateway, 3);
});

t.test('app stalled mid-answer is ended after the response timeout', async (t) => {
  const upstream = await new RecordingUpstream().start();
  // The app sends its status, headers and one byte of a 100-byte body, then nothing more.
  upstream.responder = (_request, response) => {
    response.writeHead(401, { 'content-type': 'application/json', 'content-length': '100' });
    response.write('{');
    return true;
  };
  const gateway = await startTestGateway({ upstream: upstream.url, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const started = performance.now();
  const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { idleMs: 5000 });
  const elapsed = performance.now() - started;

  t.ok(exchange.closedByServer || exchange.error, 'the gateway cuts the client connection');
  t.notOk(exchange.text.includes('\r\n\r\n{'), 'the client never gets the body\'s byte, so it cannot take the answer as whole');
  t.ok(elapsed < 3000, `soon after the response timeout, not at the client's idle limit (${elapsed.toFixed(0)} ms)`);
  const [line] = await waitForDecisions(gateway.logs, 1);
  t.equal(line.riskgate.upstream_error, 'timeout', 'the decision line names the timeout');
  t.equal(line.event.outcome, 'failure', 'the app\'s failure status still counts');
});

t.test('app reset mid-answer is an error and the gateway keeps serving', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'reset-mid-answer';
  const gateway = await startTestGateway({ upstream: upstream.url, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 3; index += 1) {
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { idleMs: 3000 });
    const body = exchange.text.slice(exchange.text.indexOf('\r\n\r\n') + 4);
    t.ok(exchange.closedByServer || exchange.error, 'the client connection is cut');
    t.ok(body.length < 1000, 'the client sees an incomplete answer');
  }

  await waitFor(() => upstreamErrors(gateway).length >= 3, 'the error lines');
  await assertNotCounted(t, gateway, upstream.url, 3);
  upstream.behaviour = 'normal';
  await assertNoFailuresCounted(t, gateway, 3);
  t.equal(upstream.logins.length, 4, 'the gateway forwarded every login, the last one answered');
});

t.test('app reset before answering is a 502 and not a failure', async (t) => {
  const upstream = await new RecordingUpstream().start();
  upstream.behaviour = 'reset';
  const gateway = await startTestGateway({ upstream: upstream.url, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 3; index += 1) {
    const reply = await login(gateway.port, 'faulty', 'wonderland');
    t.equal(reply.status, 502);
  }

  await assertNotCounted(t, gateway, upstream.url, 3);
  upstream.behaviour = 'normal';
  await assertNoFailuresCounted(t, gateway, 3);
});

t.test('app status Node cannot relay is a 502', async (t) => {
  // An app that answers with a status outside 100-999, which Node's client reads but its
  // server refuses to write.
  const app = net.createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n'));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const gateway = await startTestGateway({ upstream: origin, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  for (let index = 0; index < 3; index += 1) {
    const reply = await login(gateway.port, 'faulty', 'wonderland');
    t.equal(reply.status, 502, `login ${index}: 502`);
    t.equal(reply.json().status, 502, `login ${index}: the body is a problem document`);
  }

  await assertNotCounted(t, gateway, origin, 3);
  await assertNoFailuresCounted(t, gateway, 3);
});

t.test('padded login echo is counted', async (t) => {
  // Apps send the typed username back in a Location that refills the form. Padding that
  // the app trims too pushes the response headers past Node's default 16 KiB.
  const app = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { username } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { username: string };
      response.writeHead(401, { location: `/login?error=1&username=${encodeURIComponent(username)}`, 'content-length': 0 });
      response.end();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  // This app responds at once, so a response timeout well above the others keeps a loaded
  // machine from turning a guess into a 504.
  const gateway = await startTestGateway({
    upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
    config: { upstream_timeouts: { connect: '1s', response: '10s' } },
  });
  t.teardown(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  // Each em space is nine bytes in the Location, so the response headers come to 54 KB.
  const padded = `faulty${'\u2003'.repeat(6000)}`;
  for (let index = 0; index < 5; index += 1) {
    const body = JSON.stringify({ username: padded, password: `guess-${index}` });
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(body), body));
    t.equal(exchange.statuses[0], 401, `guess ${index}: the app's 401 is relayed`);
  }
  const decisions = await waitForDecisions(gateway.logs, 5);
  t.same(decisions.map((line) => line.event.outcome), Array(5).fill('failure'), 'each guess counts as a failure');
  t.equal(upstreamErrors(gateway).length, 0, 'no upstream fault is logged');

  const next = await login(gateway.port, 'faulty', 'wonderland');
  t.equal(next.status, 401, 'the next login is challenged');
  const [, , , , , last] = await waitForDecisions(gateway.logs, 6);
  t.equal(last.riskgate.counters.failures_per_account, 5, 'the five failures were counted for the account');
  t.equal(last.event.action, 'login-challenge', 'and the account failures rule challenges it');
});

t.test('app cut off right after its headers is a 502', async (t) => {
  // The success headers arrive and the connection drops in the same moment, while riskgate
  // is still signing the device cookie it adds to a successful login.
  let cuts = 3;
  const app = net.createServer((socket) => {
    socket.once('data', () => {
      if (cuts === 0) {
        socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}');
        return;
      }
      cuts -= 1;
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ok":');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const gateway = await startTestGateway({ upstream: origin, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  for (let index = 0; index < 3; index += 1) {
    const exchange = await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(BODY), BODY), { idleMs: 3000 });
    t.ok(exchange.closedByServer || exchange.error, `login ${index}: the client connection is closed, not left waiting`);
  }

  await assertNotCounted(t, gateway, origin, 3);
  await assertNoFailuresCounted(t, gateway, 3);
});

t.test('a client hanging up after the status line still has its failure counted', async (t) => {
  // The app sends its status and the start of its body at once and the rest later, so a
  // client can read 401 and hang up before the response ends.
  const app = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.write('{"error":');
      setTimeout(() => response.end('"invalid credentials"}'), 300);
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
  t.teardown(async () => {
    await gateway.close();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });
  const body = '{"username":"erin","password":"guess"}';

  for (let index = 0; index < 4; index += 1) {
    const socket = net.connect({ host: '127.0.0.1', port: gateway.port, localAddress: `127.0.0.${60 + index}` });
    socket.write(rawRequest('POST', '/login', loginHeaders(body), body));
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        if (chunk.toString('latin1').startsWith('HTTP/1.1 401')) socket.destroy();
      });
      socket.on('close', () => resolve());
    });
  }
  const decisions = await waitForDecisions(gateway.logs, 4);

  t.same(decisions.map((line) => line.event.outcome), ['failure', 'failure', 'failure', 'failure'],
    'each login counts as the failure the app answered');
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3]);
  t.equal(decisions.filter((line) => line.riskgate.upstream_error).length, 0, 'the app is not blamed');
  t.equal(upstreamErrors(gateway).length, 0, 'no upstream error is logged');
});

t.test('a client hanging up before the status still has its failure counted', async (t) => {
  // The app takes 300 ms to check a password, as a bcrypt check may. A client that sends its
  // guess and hangs up before then must not keep the app's response out of the counters.
  const app = await slowApp(t, 300);
  const gateway = await startTestGateway({ upstream: app.url, config: TIMEOUTS });
  t.teardown(() => gateway.close());
  const body = '{"username":"frank","password":"guess"}';

  for (let index = 0; index < 4; index += 1) {
    const socket = net.connect({ host: '127.0.0.1', port: gateway.port, localAddress: `127.0.0.${70 + index}` });
    socket.write(rawRequest('POST', '/login', loginHeaders(body), body));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
  }
  const decisions = await waitForDecisions(gateway.logs, 4);

  t.same(decisions.map((line) => line.event.outcome), ['failure', 'failure', 'failure', 'failure'],
    "each login counts as the failure the app answered after the client left");
  t.same(decisions.map((line) => line.riskgate.counters.failures_per_account), [0, 1, 2, 3]);
  t.same(decisions.map((line) => line.http.response?.status_code), [401, 401, 401, 401], 'the app\'s status is logged');
  t.equal(upstreamErrors(gateway).length, 0, 'the app is not blamed');
});

t.test('a client hanging up before a hanging app waits only the response timeout', async (t) => {
  const app = http.createServer((request) => request.resume());
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const gateway = await startTestGateway({ upstream: origin, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  const socket = net.connect({ host: '127.0.0.1', port: gateway.port });
  socket.write(rawRequest('POST', '/login', loginHeaders(BODY), BODY));
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  const started = performance.now();
  const [line] = await waitForDecisions(gateway.logs, 1);

  t.ok(performance.now() - started < 1500, 'the decision is logged once the 500 ms response timeout ends');
  t.equal(line.event.outcome, 'unknown');
  t.equal(line.riskgate.upstream_error, 'timeout');
  t.equal(upstreamErrors(gateway).length, 1, 'one error line names the timeout');
});

t.test('a client gone before the login is forwarded still has it counted', async (t) => {
  // The app sends its response in three pieces, so relaying to a closed client would wait for a drain.
  const app = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(401, { 'content-type': 'text/plain' });
      response.write('a'.repeat(1000));
      setTimeout(() => response.write('b'.repeat(1000)), 20);
      setTimeout(() => response.end('c'.repeat(1000)), 40);
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const link = await new RedisLink().start();
  const gateway = await startTestGateway({
    upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
    store: 'redis',
    config: { store: { url: link.url, timeout: '2s' } },
  });
  t.teardown(async () => {
    await gateway.close();
    await link.cut();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });
  const body = '{"username":"gina","password":"guess"}';
  await login(gateway.port, 'warm', 'wonderland');

  // The frozen Redis link delays the login's counter read until the client has gone.
  link.freeze();
  const socket = net.connect({ host: '127.0.0.1', port: gateway.port });
  socket.write(rawRequest('POST', '/login', loginHeaders(body), body));
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
  link.restore();

  const [, line] = await waitForDecisions(gateway.logs, 2);
  t.equal(line.event.outcome, 'failure', "the app's 401 counts");
  t.equal(line.http.response?.status_code, 401);
});

t.test('hung-up guesses at a slow app keep counting while it checks them', async (t) => {
  // The app takes 1.5 s per password, so each guess is still in flight well after its
  // client has gone.
  const app = await slowApp(t, 1500);
  const gateway = await startTestGateway({ upstream: app.url });
  t.teardown(() => gateway.close());
  const body = '{"username":"henry","password":"guess"}';

  for (let index = 0; index < 12; index += 1) {
    const socket = net.connect({ host: '127.0.0.1', port: gateway.port, localAddress: `127.0.0.${80 + index}` });
    socket.on('error', () => socket.destroy());
    socket.write(rawRequest('POST', '/login', loginHeaders(body), body));
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 130));
  }
  const decisions = await waitForDecisions(gateway.logs, 12);

  t.equal(app.received(), 5, 'only five guesses reached the app');
  t.equal(decisions.filter((line) => line.riskgate.decision === 'challenge').length, 7, 'the rest were challenged');
});

t.test('held pass-through responses stall no other request', async (t) => {
  // More open event streams than a bounded pool would hold, as long polls, Server-Sent
  // Events or downloads a client never reads keep them.
  const upstream = await new RecordingUpstream().start();
  const streams: http.ServerResponse[] = [];
  upstream.responder = (request, response) => {
    if (request.url !== '/events') return false;
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write('data: open\n\n');
    streams.push(response);
    return true;
  };
  const gateway = await startTestGateway({ upstream: upstream.url, config: TIMEOUTS });
  const clients: http.ClientRequest[] = [];
  t.teardown(async () => {
    for (const client of clients) client.destroy();
    await gateway.close();
    await upstream.stop();
  });

  for (let index = 0; index < 520; index += 1) {
    const client = http.get({ host: '127.0.0.1', port: gateway.port, path: '/events', agent: false }, (response) => {
      response.on('error', () => {});
    });
    client.on('error', () => {});
    clients.push(client);
  }
  await waitFor(() => streams.length >= 520, 'every stream to open', 10_000);

  const page = await send(gateway.port, { path: '/page' });
  const reply = await login(gateway.port, 'alice', 'wonderland');

  t.equal(streams.length, 520, 'each stream has a connection to the app');
  t.equal(page.status, 200, 'a page is still answered');
  t.equal(reply.status, 200, 'the login still reaches the app in time');
});

t.test('slow request bodies stall no other request', async (t) => {
  let uploads = 0;
  const app = http.createServer((request, response) => {
    if (request.url?.startsWith('/upload/')) {
      uploads += 1;
      request.resume();
      return;
    }
    response.end('page');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`, config: TIMEOUTS });
  const sockets: net.Socket[] = [];
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await gateway.close();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  // Each promises a megabyte and sends one byte, so riskgate keeps its request to the app open.
  for (let index = 0; index < 520; index += 1) {
    const socket = net.connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`POST /upload/${index} HTTP/1.1\r\nHost: app\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\nx`);
    sockets.push(socket);
  }
  await waitFor(() => uploads >= 520, 'every upload to reach the app', 10_000);

  const page = await send(gateway.port, { path: '/page' });

  t.equal(uploads, 520, 'each upload has a connection to the app');
  t.equal(page.status, 200, 'a page is still answered');
});

t.test('a client that reads none of its response is cut off', async (t) => {
  // Larger than the socket buffers of both ends together, so the gateway's writes back up.
  const big = Buffer.alloc(64 * 1024 * 1024, 'a');
  let appClosedAt: number | undefined;
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.url !== '/big') return false;
    response.on('close', () => { appClosedAt = Date.now(); });
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(big);
    return true;
  };
  const gateway = await startTestGateway({ upstream: upstream.url, config: { upstream_timeouts: { send: '1s' } } });
  const socket = net.connect(gateway.port, '127.0.0.1');
  t.teardown(async () => {
    socket.destroy();
    await gateway.close();
    await upstream.stop();
  });

  // The socket is paused, so it reads nothing.
  socket.on('error', () => {});
  socket.pause();
  const started = Date.now();
  socket.write('GET /big HTTP/1.1\r\nHost: app\r\n\r\n');
  await waitFor(() => appClosedAt !== undefined, 'the connection to the app to close', 10_000);

  t.ok(appClosedAt! - started >= 900, 'not before the send timeout');
  t.ok(appClosedAt! - started < 8000, 'soon after it');
});

t.test('a large login response read slowly adds no listener per pause', async (t) => {
  // Each time the client's buffer fills, the gateway waits for it to drain. A listener left
  // behind each time would pile up on the response, and Node warns past ten.
  const big = Buffer.alloc(16 * 1024 * 1024, 'a');
  const upstream = await new RecordingUpstream().start();
  upstream.responder = (request, response) => {
    if (request.url !== '/login') return false;
    response.writeHead(401, { 'content-type': 'text/html' });
    response.end(big);
    return true;
  };
  const gateway = await startTestGateway({ upstream: upstream.url });
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.teardown(async () => {
    process.off('warning', onWarning);
    await gateway.close();
    await upstream.stop();
  });

  const body = JSON.stringify({ username: 'slow', password: 'guess' });
  const socket = net.connect(gateway.port, '127.0.0.1');
  socket.on('error', () => {});
  let received = 0;
  const done = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    // Read in bursts with pauses, so the gateway's buffer fills and drains again and again.
    socket.pause();
    setTimeout(() => socket.resume(), 2);
  });
  socket.write(rawRequest('POST', '/login', [...loginHeaders(body), ['Connection', 'close']], body));
  await done;

  t.ok(received > big.length, 'the whole response arrived');
  t.same(warnings.filter((name) => name === 'MaxListenersExceededWarning'), [], 'Node warned of no listener leak');
});

t.test('an answer Node cannot parse still counts as unsuccessful', async (t) => {
  // The app copies the typed username into its failure redirect as raw bytes, after a
  // control character of its own, which makes a header Node's parser rejects. The app
  // checked the password first.
  const app = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('utf8');
      const start = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: *(\d+)/i.exec(text)?.[1] ?? 0);
      if (start === -1 || Buffer.byteLength(text.slice(start + 4)) < length) return;
      const { username } = JSON.parse(text.slice(start + 4)) as { username: string };
      socket.end(`HTTP/1.1 302 Found\r\nLocation: /login?error=\u0001&u=${username}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  const replies: number[] = [];
  for (let index = 0; index < 11; index += 1) {
    replies.push((await login(gateway.port, 'victim', `guess-${index}`)).status);
  }

  const lines = await waitForDecisions(gateway.logs, 11);
  t.same(replies.slice(0, 10), Array(10).fill(502), 'the app\'s answers come back as 502');
  t.equal(lines[0].riskgate.upstream_error, 'invalid', 'logged as an invalid answer');
  t.equal(lines[10].riskgate.counters.unsuccessful_per_account, 10, 'each counts as unsuccessful');
  t.equal(lines[10].riskgate.decision, 'challenge', 'and the eleventh guess is challenged');
});

t.test('a failure cut off after its status still counts', async (t) => {
  // The app sends 401 with a Content-Length longer than its body, as one that measures the
  // echoed username in characters rather than bytes does. It checked the guess all the same.
  const app = net.createServer((socket) => {
    socket.once('data', () => {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{"error":"invalid"}');
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${(app.address() as AddressInfo).port}`, config: TIMEOUTS });
  t.teardown(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  for (let index = 0; index < 6; index += 1) {
    const body = JSON.stringify({ username: 'cutoff', password: `guess-${index}` });
    await rawExchange(gateway.port, rawRequest('POST', '/login', loginHeaders(body), body), { idleMs: 3000 });
  }

  const lines = await waitForDecisions(gateway.logs, 6);
  t.equal(lines[0].riskgate.upstream_error, 'reset', 'the cut-off answer is logged as a fault');
  t.equal(lines[0].event.outcome, 'failure', 'and counts by its status');
  t.equal(lines[5].riskgate.counters.failures_per_account, 5, 'five failures are counted');
  t.equal(lines[5].riskgate.decision, 'challenge', 'so the sixth guess is challenged');
});

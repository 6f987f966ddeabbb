import t from 'tap';

import { startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { rawExchange } from './raw.js';

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
  t.equal(headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
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

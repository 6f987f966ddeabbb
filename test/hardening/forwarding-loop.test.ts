import net from 'node:net';

import t from 'tap';

import { login, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';

/** Return a loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('an upstream that leads back to the gateway gets 508, not a loop', async (t) => {
  const port = await freePort();
  const gateway = await startTestGateway({ upstream: `http://127.0.0.1:${port}`, config: { listen: `127.0.0.1:${port}` } });
  t.teardown(() => gateway.close());

  const page = await send(gateway.port, { path: '/account' });
  t.equal(page.status, 508, 'a page request is answered 508');
  t.match(page.json().detail, /came back to this gateway: its upstream leads to itself; point upstream at the app/);

  const reply = await login(gateway.port, 'alice', 'wonderland');
  t.equal(reply.status, 508, 'and so is a login, once it comes back');
  const loops = gateway.logs.lines.filter((line) => line.riskgate?.rejection === 'forwarding loop');
  t.equal(loops.length, 2, 'each loop is logged once, at the second pass');
});

t.test('a request that passed too many gateways gets 508', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const hops = Array.from({ length: 8 }, (_, index) => `gw${index}`).join(', ');
  const reply = await send(gateway.port, { path: '/account', headers: { 'riskgate-via': hops } });
  t.equal(reply.status, 508);
  t.match(reply.json().detail, /has passed 8 gateways/);
  t.equal(upstream.requests.length, 0, 'the app got nothing');

  await send(gateway.port, { path: '/account', headers: { 'riskgate-via': 'gw0' } });
  t.equal(upstream.requests[0]?.headers['riskgate-via'], `gw0, ${gateway.context.hop}`, 'a gateway behind another appends its id');
});

import t, { type Test } from 'tap';

import { login, startTestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

async function setup(t: Test, config: TestGatewayOptions['config'] = {}) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

t.test('X-Forwarded-For from an untrusted client is ignored', async (t) => {
  const { upstream, gateway } = await setup(t);

  await login(gateway.port, 'alice', 'wonderland', {
    source: '127.0.0.4',
    headers: { 'x-forwarded-for': '198.51.100.7', 'x-real-ip': '198.51.100.8', forwarded: 'for=198.51.100.9' },
  });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '127.0.0.4', 'the log shows the peer address');
  const headers = upstream.logins[0].headers;
  t.equal(headers['x-forwarded-for'], '127.0.0.4', "the upstream's X-Forwarded-For is the peer");
  t.equal(headers['x-real-ip'], '127.0.0.4', "the upstream's X-Real-IP is the peer");
  t.equal(headers.forwarded, undefined, "the client's Forwarded header is dropped");
});

t.test('untrusted peer is ignored beside a trusted one', async (t) => {
  const { upstream, gateway } = await setup(t, { trusted_proxies: ['127.0.0.1/32'] });

  await login(gateway.port, 'alice', 'wonderland', { source: '127.0.0.5', headers: { 'x-forwarded-for': '198.51.100.7' } });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '127.0.0.5', 'only the listed proxy is believed');
  t.equal(upstream.logins[0].headers['x-forwarded-for'], '127.0.0.5');
});

t.test('trusted proxy: right-most untrusted entry is the client', async (t) => {
  const { upstream, gateway } = await setup(t, { trusted_proxies: ['127.0.0.1/32', '10.0.0.0/8'] });

  // The left-most entry is whatever the client claimed; 10.1.2.3 is a trusted inner proxy.
  await login(gateway.port, 'alice', 'wonderland', {
    source: '127.0.0.1',
    headers: { 'x-forwarded-for': '192.0.2.66, 203.0.113.9, 10.1.2.3' },
  });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '203.0.113.9', 'the client is the right-most untrusted entry');
  const headers = upstream.logins[0].headers;
  t.equal(headers['x-real-ip'], '203.0.113.9', 'the app reads the same client');
  t.equal(String(headers['x-forwarded-for']).split(',')[0].trim(), '203.0.113.9', 'X-Forwarded-For starts at the client');
  t.notMatch(String(headers['x-forwarded-for']), /192\.0\.2\.66/, 'the spoofable left part is not passed on');
});

t.test('trusted proxy on IPv6 loopback', async (t) => {
  // ::1 lies in the deprecated IPv4-compatible range ::/96, and a proxy on the same host
  // connects from it: the entry must stay ::1, not the IPv4 address 0.0.0.1.
  const { upstream, gateway } = await setup(t, { listen: '[::1]:0', trusted_proxies: ['::1/128'] });

  await login(gateway.port, 'alice', 'wonderland', { host: '::1', headers: { 'x-forwarded-for': '203.0.113.9' } });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '203.0.113.9', 'the proxy on ::1 is believed');
  t.equal(upstream.logins[0].headers['x-real-ip'], '203.0.113.9', 'the app reads the same client');
});

t.test('repeated X-Forwarded-For headers are read as one list', async (t) => {
  const { gateway } = await setup(t, { trusted_proxies: ['127.0.0.1/32'] });

  await login(gateway.port, 'alice', 'wonderland', {
    source: '127.0.0.1',
    headers: { 'x-forwarded-for': ['198.51.100.1', '203.0.113.77'] },
  });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '203.0.113.77', 'the last header holds the right-most entry');
});

t.test('invalid entry stops the walk', async (t) => {
  const { gateway } = await setup(t, { trusted_proxies: ['127.0.0.1/32'] });

  await login(gateway.port, 'alice', 'wonderland', {
    source: '127.0.0.1',
    headers: { 'x-forwarded-for': '203.0.113.5, unknown' },
  });

  const [decision] = await waitForDecisions(gateway.logs, 1);
  t.equal(decision.source.ip, '127.0.0.1', 'the proxy that sent the invalid entry is the client');
});

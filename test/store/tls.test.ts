import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';

import { Redis } from 'ioredis';
import t, { type Test } from 'tap';

import { startFleet, type Fleet } from '../helpers/fleet.js';
import { PROJECT_ROOT, TEST_SECRET, login, send } from '../helpers/gateway.js';
import { redisStoreOf } from '../helpers/redis.js';
import { RedisServer, missingRedisServer, temporaryDirectory } from '../helpers/redis-server.js';
import { createCertificates, type TestCertificates } from '../helpers/redis-topologies.js';
import { OWNER, checkSharedBlock, stuff } from '../helpers/stuffing.js';
import { waitForDecisions } from '../helpers/wait.js';
import { loadConfigObject } from '../../src/config/load.js';
import { RedisStore } from '../../src/store/redis.js';

let server: RedisServer | undefined;
let certificates: TestCertificates;
/** A second CA that signed nothing the server presents. */
let otherCa: string;

/** Start redis-server with TLS only, requiring client certificates. Returns a reason to skip when this build has no TLS. */
async function startTlsServer(directory: string): Promise<string | undefined> {
  certificates = createCertificates(directory);
  const other = join(directory, 'other');
  mkdirSync(other);
  otherCa = createCertificates(other).ca;
  try {
    server = await RedisServer.start({
      directory,
      args: (port) => [
        '--port', '0',
        '--tls-port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--tls-cert-file', certificates.serverCert,
        '--tls-key-file', certificates.serverKey,
        '--tls-ca-cert-file', certificates.ca,
        '--tls-auth-clients', 'yes',
      ],
    });
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    if (/tls/i.test(message)) return `this redis-server build does not support TLS: ${message.split('\n').slice(-3).join(' ')}`;
    throw error;
  }
}

const directory = temporaryDirectory('tls');
t.teardown(async () => {
  await server?.stop();
  directory.remove();
});
const skip = missingRedisServer() ?? (await startTlsServer(directory.path));

/**
 * Start `count` gateways that reach the test server over TLS with `tls` settings. The
 * default store timeout is generous, so that a busy machine never makes a test fall back
 * to memory. A short one makes a failing connection fail fast at start.
 */
function startGateways(t: Test, count: number, tls: Record<string, unknown>, timeout = '1s'): Promise<Fleet> {
  const store = { url: `rediss://127.0.0.1:${server!.port}/0`, timeout, tls };
  return startFleet(t, store, Array.from({ length: count }, () => ({})));
}

t.test('two gateways over TLS share counts', { skip }, async (t) => {
  const tls = { ca_file: certificates.ca, cert_file: certificates.clientCert, key_file: certificates.clientKey };
  const { gateways, upstream } = await startGateways(t, 2, tls);

  const attempts = await stuff(gateways, upstream);

  await checkSharedBlock(t, [gateways[0], gateways[1]], attempts);
  const owner = await login(gateways[1].port, 'alice', 'wonderland', { source: OWNER });
  t.equal(owner.status, 200, 'alice from another address still logs in');
  const socket = (redisStoreOf(gateways[0]).client as Redis).stream;
  t.ok(socket instanceof TLSSocket, 'the store connection is a TLS socket');
  t.equal((socket as TLSSocket).authorized, true, 'the server certificate was verified against the CA');
});

// The server drops a client without a certificate after the handshake, so the client sees
// a reset (Node 20 with OpenSSL 3) rather than a named TLS alert.
const REJECTED = [
  {
    name: 'untrusted server certificate',
    tls: () => ({ ca_file: otherCa, cert_file: certificates.clientCert, key_file: certificates.clientKey }),
    error: /self-signed certificate in certificate chain/,
  },
  { name: 'missing client certificate', tls: () => ({ ca_file: certificates.ca }), error: /ECONNRESET|certificate required/ },
];

for (const { name, tls, error } of REJECTED) {
  t.test(`TLS with ${name} fails as an outage`, { skip }, async (t) => {
    const { gateways, upstream } = await startGateways(t, 1, tls(), '200ms');
    const gateway = gateways[0];

    const reply = await login(gateway.port, 'alice', 'wonderland');
    const [line] = await waitForDecisions(gateway.logs, 1);
    const warning = gateway.logs.lines.find((entry) => entry.message.startsWith('Redis is not reachable at start'));
    const outage = gateway.logs.lines.find((entry) => entry.message === 'store outage started');
    const readiness = await send(gateway.adminPort, { path: '/readyz' });

    t.equal(reply.status, 200, 'the fail-open route still forwards the login');
    t.equal(upstream.logins.length, 1);
    t.equal(line.riskgate.store, 'memory-fallback');
    t.match(warning?.err.message, error, 'the start-up warning says why the connection failed');
    t.match(outage?.err.message, /last connection error/, 'the outage line carries the connection error');
    t.match(outage?.err.message, error);
    t.equal(readiness.json().checks.store.status, 'unavailable');
  });
}

t.test('unreadable TLS file is a config error', async (t) => {
  const missing = join(PROJECT_ROOT, 'no-such-ca.pem');
  const config = loadConfigObject(
    { upstream: 'http://127.0.0.1:3000', store: { url: 'rediss://127.0.0.1:6380', tls: { ca_file: missing } } },
    PROJECT_ROOT,
    { env: {}, secret: TEST_SECRET },
  );

  t.throws(() => new RedisStore({ ...config.store, timeoutMs: 50 }), {
    message: `store.tls.ca_file: cannot read ${missing}: file not found`,
  });
});

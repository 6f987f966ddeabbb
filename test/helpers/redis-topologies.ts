import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Redis } from 'ioredis';

import { RedisServer, baseArguments } from './redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Send one command to one server on a short-lived connection and return the reply. */
export async function command(port: number, name: string, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    return await client.call(name, ...args);
  } finally {
    client.disconnect();
  }
}

/** Fields of an INFO section as name → value. */
export async function info(port: number, section: string): Promise<Map<string, string>> {
  const text = String(await command(port, 'INFO', section));
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const separator = line.indexOf(':');
    if (separator > 0) fields.set(line.slice(0, separator), line.slice(separator + 1));
  }
  return fields;
}

export interface TestCluster {
  nodes: RedisServer[];
  /** Ports of the nodes that are masters now. */
  masters(): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * Start a Redis Cluster of `masters` nodes, each with `replicas` replicas, on free loopback
 * ports, and wait until every node reports `cluster_state:ok`.
 */
export async function startCluster(
  directory: string,
  options: { masters: number; replicas: number; nodeTimeoutMs: number },
): Promise<TestCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const node of nodes) await node.stop();
  };
  try {
    const count = options.masters * (1 + options.replicas);
    for (let index = 0; index < count; index += 1) {
      nodes.push(await RedisServer.start({
        directory,
        args: (port, busPort) => [
          ...baseArguments(port),
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPort),
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(options.nodeTimeoutMs),
        ],
      }));
    }

    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(options.replicas), '--cluster-yes'],
      { timeout: 30_000 });
    await waitForClusterOk(nodes);
    // A manual failover needs each replica in sync with its master first.
    for (const node of nodes) {
      await waitFor(async () => {
        const replication = await info(node.port, 'replication');
        return replication.get('role') === 'master' || replication.get('master_link_status') === 'up';
      }, `replica ${node.port} to sync with its master`, 10_000);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes,
    masters: async () => {
      const roles = await Promise.all(nodes.map(async (node) => (await info(node.port, 'replication')).get('role')));
      return nodes.filter((_, index) => roles[index] === 'master').map((node) => node.port);
    },
    stop,
  };
}

/** Wait until every node reports `cluster_state:ok` and counts every node in `cluster_known_nodes`. */
export async function waitForClusterOk(nodes: readonly RedisServer[], timeoutMs = 10_000): Promise<void> {
  const healthy = async (port: number) => {
    const text = String(await command(port, 'CLUSTER', 'INFO').catch(() => ''));
    return text.includes('cluster_state:ok') && text.includes(`cluster_known_nodes:${nodes.length}\r\n`);
  };
  for (const node of nodes) {
    await waitFor(() => healthy(node.port), `cluster node ${node.port} to report cluster_state:ok`, timeoutMs);
  }
}

export interface TestSentinel {
  master: RedisServer;
  replica: RedisServer;
  sentinel: RedisServer;
  name: string;
  /** Port of the master the sentinel names now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Start a master, one replica of it and one sentinel (quorum 1) that monitors it as
 * `name`, and wait until the replica is in sync and the sentinel lists it.
 */
export async function startSentinel(directory: string, name: string): Promise<TestSentinel> {
  const servers: RedisServer[] = [];
  const stop = async () => {
    for (const server of servers) await server.stop();
  };
  try {
    const master = await RedisServer.start({ directory, args: (port) => baseArguments(port) });
    servers.push(master);
    const replica = await RedisServer.start({
      directory,
      args: (port) => [...baseArguments(port), '--replicaof', '127.0.0.1', String(master.port)],
    });
    servers.push(replica);
    const sentinel = await RedisServer.start({
      directory,
      ready: /\+monitor master/,
      args: (port) => {
        // Sentinel rewrites its config file, so each one needs a file of its own.
        const file = join(directory, `sentinel-${port}.conf`);
        writeFileSync(file, [
          `port ${port}`,
          'bind 127.0.0.1',
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          '',
        ].join('\n'));
        return [file, '--sentinel'];
      },
    });
    servers.push(sentinel);

    await waitFor(async () => (await info(replica.port, 'replication')).get('master_link_status') === 'up',
      'the replica to sync with the master', 10_000);
    await waitFor(async () => ((await command(sentinel.port, 'SENTINEL', 'REPLICAS', name)) as unknown[]).length === 1,
      'the sentinel to discover the replica', 10_000);

    const masterPort = async () => {
      const [, port] = (await command(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[];
      return Number(port);
    };
    return { master, replica, sentinel, name, masterPort, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface TestCertificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Create a throwaway CA with openssl, a server certificate for 127.0.0.1 and localhost, and
 * a client certificate, all valid for one day, as PEM files in `directory`.
 */
export function createCertificates(directory: string): TestCertificates {
  const path = (name: string) => join(directory, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'pipe', timeout: 20_000 });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  openssl('req', '-x509', ...newKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=riskgate test CA');
  writeFileSync(path('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(path('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [['server', '/CN=localhost'], ['client', '/CN=riskgate']]) {
    openssl('req', '-new', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
  return {
    ca: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
  };
}

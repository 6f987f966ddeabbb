import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pino from 'pino';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';

import { parseMetrics } from '../admin/client.js';
import { LogCapture, PROJECT_ROOT, TEST_SECRET, login, send, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { loadConfigObject } from '../../src/config/load.js';
import { WebhookSink } from '../../src/webhook/sink.js';

// Usernames of seven characters are blocked, so each login's decision is known in advance.
const RULES = `
rules:
  - id: test.length-seven
    description: Usernames of seven characters are refused
    when: user.length == 7
    action: block
`;

const TOKEN = 'webhook-token-for-tests-0123456789';

/** One POST as the receiver got it. */
interface Delivery {
  headers: http.IncomingHttpHeaders;
  body: Record<string, any>;
}

/**
 * An HTTP receiver on 127.0.0.1 that records every POST. `statuses` gives the status of the
 * next requests in turn (200 once it runs out), and `hang` keeps every request open.
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  requests = 0;
  statuses: number[] = [];
  hang = false;
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.requests += 1;
      if (this.hang) return;
      const status = this.statuses.shift() ?? 200;
      if (status === 200) this.deliveries.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(status).end();
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/riskgate`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Setup {
  gateway: TestGateway;
  receiver: Receiver;
  /** Close the gateway now; the teardown then skips it. */
  close: () => Promise<void>;
}

async function setup(t: Test, webhook: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<Setup> {
  const directory = mkdtempSync(join(tmpdir(), 'riskgate-webhook-'));
  writeFileSync(join(directory, 'rules.yaml'), RULES);
  const receiver = await new Receiver().start();
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { rules: [directory], webhook: { url: receiver.url, timeout: '300ms', ...webhook }, ...config },
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await gateway.close();
  };
  t.teardown(async () => {
    await close();
    await upstream.stop();
    await receiver.stop();
    rmSync(directory, { recursive: true, force: true });
  });
  return { gateway, receiver, close };
}

async function metrics(gateway: TestGateway): Promise<Map<string, number>> {
  return parseMetrics((await send(gateway.adminPort, { path: '/metrics' })).body);
}

function logCount(gateway: TestGateway, message: string): number {
  return gateway.logs.lines.filter((line) => line.message === message).length;
}

t.test('block decisions reach the receiver', async (t) => {
  const { gateway, receiver } = await setup(t);

  await login(gateway.port, 'blocked', 'secret-password');
  await login(gateway.port, 'alice', 'wonderland');
  await login(gateway.port, 'mallory', 'secret-password');
  const decisions = await waitForDecisions(gateway.logs, 3);
  // The sink counts a delivery once the receiver's response is in, after the receiver records it.
  await waitFor(async () => (await metrics(gateway)).get('riskgate_webhook_documents_total{result="delivered"}') === 2,
    'two deliveries');
  const samples = await metrics(gateway);

  // Decision lines are written after each login's outcome, so their order can differ from the logins'.
  const blocks = decisions.filter((line) => line.riskgate.decision === 'block');
  const [first, second] = receiver.deliveries;
  t.equal(first.body.riskgate.decision, 'block');
  t.equal(first.body.event.action, 'login-block');
  t.same(first.body.rule.name, ['test.length-seven']);
  t.equal(first.body.message, 'login decision');
  t.ok(Date.parse(first.body['@timestamp']) > 0, 'the document has a timestamp');
  t.same(first.body.user, blocks[0].user, 'the account is pseudonymised as in the log');
  t.equal(first.body.http.request.id, blocks[0].http.request.id, 'documents arrive in the order of the log');
  t.equal(second.body.http.request.id, blocks[1].http.request.id);
  t.equal(first.headers['content-type'], 'application/json');
  t.equal(first.headers.authorization, undefined, 'no token is sent unless one is configured');
  t.notOk(JSON.stringify(receiver.deliveries).includes('secret-password'), 'no password is sent');
  t.notOk(JSON.stringify(receiver.deliveries).includes('blocked'), 'no username is sent');
  t.equal(receiver.deliveries.length, 2, 'the allowed login was not sent');
  t.equal(samples.get('riskgate_webhook_queue_length'), 0, 'nothing is left waiting');
});

t.test('failed deliveries are retried', async (t) => {
  const { gateway, receiver } = await setup(t);
  receiver.statuses = [503, 429];

  await login(gateway.port, 'blocked', 'x');
  await waitFor(async () => (await metrics(gateway)).get('riskgate_webhook_documents_total{result="delivered"}') === 1,
    'the third attempt to be delivered', 5000);
  const samples = await metrics(gateway);

  t.equal(receiver.requests, 3, 'two failed attempts and one that succeeded');
  t.equal(samples.get('riskgate_webhook_documents_total{result="delivered"}'), 1);
  t.equal(logCount(gateway, 'webhook delivery failed'), 1, 'one line when deliveries start failing');
  t.equal(logCount(gateway, 'webhook deliveries resumed'), 1, 'one line when they succeed again');
  const failed = gateway.logs.lines.find((line) => line.message === 'webhook delivery failed');
  t.equal(failed?.err.message, 'HTTP 503');
  t.equal(failed?.webhook.origin, new URL(receiver.url).origin, 'the log names the origin, not the path');
});

t.test('rejected document is not retried', async (t) => {
  const { gateway, receiver } = await setup(t);
  receiver.statuses = [400];

  await login(gateway.port, 'blocked', 'x');
  await waitFor(async () => (await metrics(gateway)).get('riskgate_webhook_documents_total{result="rejected"}') === 1,
    'the document to be counted as rejected');
  await login(gateway.port, 'mallory', 'x');
  await waitFor(() => receiver.deliveries.length === 1, 'the next document');

  t.equal(receiver.requests, 2, 'the rejected document was sent once');
  t.equal(receiver.deliveries[0].body.riskgate.decision, 'block');
});

t.test('hanging receiver never delays a login', async (t) => {
  const { gateway, receiver, close } = await setup(t, { queue_size: 2, max_attempts: 2, timeout: '1s' });
  receiver.hang = true;

  const started = Date.now();
  const statuses = [];
  // Each from its own address, since repeats from one address are merged while they wait.
  for (let index = 0; index < 8; index += 1) {
    statuses.push((await login(gateway.port, `user${index}ab`, 'x', { source: `127.0.0.${20 + index}` })).status);
  }
  const elapsedMs = Date.now() - started;
  await waitForDecisions(gateway.logs, 8);
  const during = await metrics(gateway);

  t.same(statuses, Array(8).fill(403));
  t.ok(elapsedMs < 2000, `eight blocked logins took ${elapsedMs} ms while the receiver hung`);
  t.equal(during.get('riskgate_webhook_queue_length'), 3, 'two waiting and one in flight');
  t.equal(during.get('riskgate_webhook_documents_total{result="queue_full"}'), 5, 'the oldest waiting documents were dropped');
  t.equal(logCount(gateway, 'webhook documents dropped'), 1, 'drops are logged at a bounded rate');

  // Each attempt times out after a second, so the document in flight gives up after two.
  await waitFor(async () => (await metrics(gateway)).get('riskgate_webhook_documents_total{result="gave_up"}') === 1,
    'the first document to be given up', 5000);

});

t.test('repeated blocks from one address are merged while they wait', async (t) => {
  const { gateway, receiver } = await setup(t, { queue_size: 2 });
  receiver.hang = true;

  // One client keeps sending from a blocked address while the receiver is slow. Another
  // attack is blocked meanwhile, so its block must stay in the queue.
  for (let index = 0; index < 12; index += 1) {
    await login(gateway.port, `loud${String(index).padStart(2, '0')}a`, 'x', { source: '127.0.0.40' });
  }
  await login(gateway.port, 'quietab', 'x', { source: '127.0.0.41' });
  await waitForDecisions(gateway.logs, 13);
  const during = await metrics(gateway);
  t.equal(during.get('riskgate_webhook_queue_length'), 3, 'one in flight, one merged document and the other attack');
  t.equal(during.get('riskgate_webhook_documents_total{result="queue_full"}'), 0, 'nothing was dropped');

  // The document in flight is sent again after its timeout, then the two waiting ones.
  receiver.hang = false;
  await waitFor(() => receiver.deliveries.length === 3, 'the three documents', 5000);
  const [, merged, quiet] = receiver.deliveries.map((delivery) => delivery.body);
  t.equal(merged.source.ip, '127.0.0.40');
  t.equal(merged.riskgate.merged, 10, 'the repeats are counted on the waiting document');
  t.ok(Date.parse(merged.riskgate.last_merged_at) > 0, 'with the time of the last');
  t.equal(quiet.source.ip, '127.0.0.41', 'the other attack is delivered');
  t.equal(quiet.riskgate.merged, undefined, 'on a document of its own');
});

t.test('repeated blocks from one IPv6 network are merged while they wait', async (t) => {
  const { gateway, receiver } = await setup(t, { queue_size: 2 }, { trusted_proxies: ['127.0.0.1/32'] });
  receiver.hang = true;

  // riskgate blocks an IPv6 client by its /64, so a client that moves to a new address in
  // it for every login is one client to the webhook too.
  for (let index = 0; index < 12; index += 1) {
    await login(gateway.port, `loud${String(index).padStart(2, '0')}a`, 'x', { headers: { 'x-forwarded-for': `2001:db8:7:1::${index + 1}` } });
  }
  await login(gateway.port, 'quietab', 'x', { headers: { 'x-forwarded-for': '2001:db8:7:2::1' } });
  await waitForDecisions(gateway.logs, 13);
  const during = await metrics(gateway);
  t.equal(during.get('riskgate_webhook_documents_total{result="queue_full"}'), 0, 'nothing was dropped');

  receiver.hang = false;
  await waitFor(() => receiver.deliveries.length === 3, 'the three documents', 5000);
  const [, merged, quiet] = receiver.deliveries.map((delivery) => delivery.body);
  t.equal(merged.riskgate.merged, 10, 'the repeats from the /64 are counted on one document');
  t.equal(quiet.source.ip, '2001:db8:7:2::1', 'the other network\'s block is delivered');
});

t.test('shutdown drops what the receiver never took', async (t) => {
  const { gateway, receiver, close } = await setup(t, { queue_size: 2, max_attempts: 10 });
  receiver.hang = true;

  const sources = ['127.0.0.50', '127.0.0.51', '127.0.0.52'];
  for (const [index, username] of ['blocked', 'mallory', 'trudy12'].entries()) await login(gateway.port, username, 'x', { source: sources[index] });
  await waitForDecisions(gateway.logs, 3);
  const closing = Date.now();
  await close();
  const closeMs = Date.now() - closing;
  const lines = gateway.logs.lines.filter((line) => line.message === 'webhook documents dropped');

  t.ok(closeMs > 2500 && closeMs < 4500, `shutdown waited ${closeMs} ms for the queue to drain, then stopped`);
  t.equal(lines.length, 1, 'one line for the documents dropped at shutdown');
  t.equal(lines[0]?.reason, 'shutdown');
  t.equal(lines[0]?.dropped, 3, 'the document in flight and the two waiting');
});

t.test('webhook token comes from the environment', async (t) => {
  const config = loadConfigObject(
    { upstream: 'http://127.0.0.1:3000', webhook: { url: 'https://siem.example/hooks' } },
    PROJECT_ROOT,
    { env: { RISKGATE_WEBHOOK_TOKEN: TOKEN }, secret: TEST_SECRET },
  );

  t.equal(config.webhook?.token, TOKEN);
  t.same(config.webhook?.decisions, ['block']);
  t.equal(config.webhook?.timeoutMs, 2000);
  t.equal(config.webhook?.maxAttempts, 5);
  t.equal(config.webhook?.queueSize, 1000);
});

t.test('webhook token is sent as a bearer token', async (t) => {
  const receiver = await new Receiver().start();
  const logs = new LogCapture();
  const config = { url: new URL(receiver.url), decisions: ['block' as const], timeoutMs: 1000, maxAttempts: 1, queueSize: 10, token: TOKEN };
  const sink = new WebhookSink(config, pino(logs), new Registry());
  t.teardown(() => receiver.stop());

  sink.enqueue('allow', { riskgate: { decision: 'allow' } });
  sink.enqueue('block', { riskgate: { decision: 'block' } });
  await waitFor(() => receiver.deliveries.length === 1, 'the block document');
  await sink.close();

  t.equal(receiver.deliveries[0].headers.authorization, `Bearer ${TOKEN}`);
  t.equal(receiver.deliveries[0].body.riskgate.decision, 'block');
  t.equal(receiver.requests, 1, 'the allow decision was not sent');
  t.match(receiver.deliveries[0].headers['user-agent'], /^riskgate\//);
});

const INVALID: [string, Record<string, unknown>, RegExp][] = [
  ['missing url', { decisions: ['block'] }, /webhook is missing the required key "url"/],
  ['ftp url', { url: 'ftp://siem.example' }, /webhook\.url has an invalid format/],
  ['unknown decision', { url: 'https://siem.example', decisions: ['deny'] }, /webhook\.decisions\.0 must be one of "allow", "challenge", "block"/],
  ['empty queue', { url: 'https://siem.example', queue_size: 0 }, /webhook\.queue_size must be >= 1/],
  ['unparsable url', { url: 'http://exa mple' }, /webhook\.url "http:\/\/exa mple" is not a valid URL/],
];

t.test('an invalid webhook or app URL is quoted without its user info', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['webhook password', { webhook: { url: 'http://hook:S3cretTok@127.0.0.1:99999' } }, /webhook\.url "http:\/\/\*\*\*@127\.0\.0\.1:99999"/],
    ['webhook token as user', { webhook: { url: 'https://S3cretTok@exa mple/hook' } }, /webhook\.url "https:\/\/\*\*\*@exa mple\/\.\.\."/],
    ['webhook with another scheme', { webhook: { url: 'ftp://hook:S3cretTok@siem.example/x' } }, /got "ftp:\/\/\*\*\*@siem\.example\/\.\.\."/],
    ['app password', { upstream: 'http://app:S3cretTok@exa mple' }, /upstream "http:\/\/\*\*\*@exa mple" is not a valid URL/],
    ['webhook password with a slash', { webhook: { url: 'https://hook:Se/S3cretTok@exa mple/x' } }, /webhook\.url "https:\/\/\*\*\*@exa mple\/\.\.\."/],
    ['app password with a slash', { upstream: 'http://svc:Pa/S3cretTok@exa mple' }, /upstream "http:\/\/\*\*\*@exa mple"/],
    // Node's fetch refuses such a URL and quotes it, password included, in its error.
    ['valid webhook URL with a password', { webhook: { url: 'http://hook:S3cretTok@127.0.0.1:9/hook' } },
      /webhook\.url "http:\/\/\*\*\*@127\.0\.0\.1:9\/\.\.\." carries a user name or password/],
  ];
  for (const [name, raw, message] of cases) {
    let text = '';
    try {
      loadConfigObject({ upstream: 'http://127.0.0.1:3000', ...raw }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
    } catch (error) {
      text = (error as Error).message;
    }
    t.match(text, message, `${name}: the URL is named without its user info`);
    t.notMatch(text, /S3cretTok/, `${name}: the secret is not in the message`);
  }
});

for (const [name, webhook, message] of INVALID) {
  t.test(`webhook with ${name} is rejected`, async (t) => {
    t.throws(() => loadConfigObject({ upstream: 'http://127.0.0.1:3000', webhook }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET }),
      { message });
  });
}

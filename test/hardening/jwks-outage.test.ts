import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair } from 'jose';
import t from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log/logger.js';
import { DEFAULT_RULES, LogCapture, PROJECT_ROOT, TEST_SECRET, login } from '../helpers/gateway.js';
import { signAssertion } from '../helpers/step-up.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';

t.test('unreachable JWKS fails step-ups as key_unavailable', async (t) => {
  const mfa = await generateKeyPair('ES256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(mfa.publicKey)), kid: 'current', alg: 'ES256' }] };

  // The MFA service's key endpoint responds with 503 until it is switched on.
  let serving = false;
  const keyServer = http.createServer((_request, response) => {
    response.writeHead(serving ? 200 : 503, { 'content-type': 'application/json' });
    response.end(serving ? JSON.stringify(jwks) : '{}');
  });
  await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
  // A key endpoint may take a token in its query, which no log line may show.
  const jwksUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/jwks.json?token=jwks-secret-token`;

  const upstream = await new RecordingUpstream().start();
  const logs = new LogCapture();
  const config = loadConfigObject({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstream: upstream.url,
    rules: [DEFAULT_RULES],
    store: { url: 'memory', key_prefix: 'rgjwks' },
    challenge: { mode: 'step-up', issuer: 'test-mfa', audience: 'riskgate', algorithms: ['ES256'], jwks_url: jwksUrl },
  }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
  const gateway = await startGateway(config, { logger: createLogger(config.log, logs).logger });
  const port = Number(new URL(gateway.url).port);
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    keyServer.close();
  });

  // Five failures put the account under challenge.
  for (let index = 0; index < 5; index += 1) await login(port, 'target', `guess-${index}`);
  const present = async () => {
    const challenge = await login(port, 'target', 'wonderland');
    const assertion = await signAssertion(mfa.privateKey, { subject: 'target', challengeId: challenge.json().challenge.id, nowMs: Date.now() });
    const before = logs.decisions.length;
    const reply = await login(port, 'target', 'wonderland', { headers: { 'riskgate-step-up': assertion } });
    await waitFor(() => logs.decisions.length > before, 'the decision line');
    return { status: reply.status, stepUp: logs.decisions.at(-1)?.riskgate.step_up };
  };

  for (let attempt = 0; attempt < 2; attempt += 1) {
    const down = await present();
    t.equal(down.status, 401, `attempt ${attempt + 1}: challenged again`);
    t.same(down.stepUp, { ok: false, reason: 'key_unavailable' }, `attempt ${attempt + 1}: the reason names the keys`);
  }
  const warnings = logs.lines.filter((line) => line.message?.startsWith('step-up keys unavailable'));
  t.equal(warnings.length, 1, 'one warn line for the outage, not one per login');
  t.equal(warnings[0]?.log.level, 'warn');
  t.match(warnings[0]?.message, `fetching the JWKS at ${jwksUrl.replace('jwks-secret-token', '***')} failed`, 'it names the URL');
  t.notOk(logs.text.includes('jwks-secret-token'), 'without the token in its query');

  serving = true;
  const up = await present();
  t.equal(up.status, 200, 'once the keys answer, the step-up passes');
  t.same(up.stepUp, { ok: true });
});

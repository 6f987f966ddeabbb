import t from 'tap';

import { runCheck } from '../../src/cli/tuning.js';
import { DEFAULT_RULES } from '../helpers/gateway.js';
import { captureOutput, writeTree } from '../tuning/io.js';

// A JWKS URL's keys sign step-up assertions, and the webhook gets the bearer token, so an
// attacker on a plain HTTP path to another host could sign assertions or read the token.
t.test('check warns about trust sent over plain http to another host', async (t) => {
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\n`;
  const tree = writeTree({
    'plain.yaml': `${base}challenge: { mode: step-up, jwks_url: "http://mfa.internal/keys.json" }\nwebhook: { url: "http://siem.internal/hook" }\n`,
    'local.yaml': `${base}challenge: { mode: step-up, jwks_url: "http://127.0.0.1:9000/keys.json" }\nwebhook: { url: "http://localhost:9001/hook" }\n`,
    'tls.yaml': `${base}challenge: { mode: step-up, jwks_url: "https://mfa.example/keys.json" }\nwebhook: { url: "https://siem.example/hook" }\n`,
  });
  t.teardown(tree.remove);
  const previous = process.env.RISKGATE_WEBHOOK_TOKEN;
  process.env.RISKGATE_WEBHOOK_TOKEN = 'webhook-token-for-tests';
  t.teardown(() => {
    if (previous === undefined) delete process.env.RISKGATE_WEBHOOK_TOKEN;
    else process.env.RISKGATE_WEBHOOK_TOKEN = previous;
  });

  const plain = captureOutput();
  t.equal(await runCheck({ config: tree.path('plain.yaml') }, [], plain.io), 0, 'the warnings do not fail the check');
  t.match(plain.out(), /warning: challenge\.jwks_url uses plain http to mfa\.internal: .*use https/);
  t.match(plain.out(), /warning: webhook\.url uses plain http to siem\.internal, and RISKGATE_WEBHOOK_TOKEN goes with every document/);
  t.notMatch(plain.out(), /webhook-token-for-tests/, 'the token is not shown');

  for (const name of ['local.yaml', 'tls.yaml']) {
    const output = captureOutput();
    await runCheck({ config: tree.path(name) }, [], output.io);
    t.notMatch(output.out(), /plain http/, `${name}: loopback and https pass`);
  }
});

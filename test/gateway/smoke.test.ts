import t from 'tap';

import { login, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';

t.test('good login is forwarded and allowed', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const reply = await login(gateway.port, 'alice', 'wonderland');

  t.equal(reply.status, 200);
  t.equal(upstream.logins.length, 1);
  t.equal(gateway.logs.decisions[0]?.riskgate.decision, 'allow');
});

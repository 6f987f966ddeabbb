import { randomBytes } from 'node:crypto';

import type { Test } from 'tap';

import { FakeClock } from './clock.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { RecordingUpstream } from './upstream.js';

export interface Fleet {
  gateways: TestGateway[];
  upstream: RecordingUpstream;
  /** Key prefix every gateway of the fleet uses. */
  prefix: string;
}

/**
 * Start gateways that share one store, one key prefix, one upstream app and one fake
 * clock, as instances of one fleet: one gateway per entry of `configs`, each with `store`
 * laid under its own keys. They are closed in the test's teardown.
 */
export async function startFleet(t: Test, store: Record<string, unknown>, configs: Record<string, unknown>[]): Promise<Fleet> {
  const clock = new FakeClock();
  const upstream = await new RecordingUpstream().start();
  const prefix = `rgt${randomBytes(4).toString('hex')}`;
  const gateways: TestGateway[] = [];
  t.teardown(async () => {
    for (const gateway of gateways) await gateway.close();
    await upstream.stop();
  });
  for (const config of configs) {
    const gatewayConfig = { ...config, store: { ...store, key_prefix: prefix } };
    gateways.push(await startTestGateway({ upstream: upstream.url, clock: clock.read, config: gatewayConfig }));
  }
  return { gateways, upstream, prefix };
}

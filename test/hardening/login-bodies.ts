import type { Test } from 'tap';

import { send, startTestGateway, BROWSER_HEADERS } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';

/** Start a recording upstream and a gateway that logs usernames in plain text, both stopped at teardown. */
export async function setUp(t: Test, config: Record<string, unknown> = {}) {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({ upstream: upstream.url, config: { log: { username: 'plain' }, ...config } });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  return { upstream, gateway };
}

/** POST a login body with browser headers. */
export function postLogin(port: number, body: string, contentType = 'application/json', path = '/login') {
  return send(port, { method: 'POST', path, headers: { ...BROWSER_HEADERS, 'content-type': contentType }, body });
}

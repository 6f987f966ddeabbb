import { setTimeout as sleep } from 'node:timers/promises';

import { login, type LogCapture, type TestGateway } from './gateway.js';

/**
 * Poll until `condition` holds, or throw after `timeoutMs` naming what was awaited. The
 * gateway writes a login's decision line after its store write, which can finish after
 * the client already has the reply.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(5);
  }
}

/** Wait until the capture contains at least `count` decision lines, and return them. */
export async function waitForDecisions(logs: LogCapture, count: number): Promise<Record<string, any>[]> {
  await waitFor(() => logs.decisions.length >= count, `${count} decision line(s), have ${logs.decisions.length}`);
  return logs.decisions;
}

/** Send one login to `gateway`, wait for its decision line and return it. */
export async function loginDecision(gateway: TestGateway, username: string, password: string): Promise<Record<string, any>> {
  const count = gateway.logs.decisions.length;
  await login(gateway.port, username, password);
  return (await waitForDecisions(gateway.logs, count + 1))[count];
}

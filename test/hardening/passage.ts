import type { Test } from 'tap';

import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RecordingUpstream, type ReceivedRequest } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { loginHeaders, rawExchange, rawRequest } from './raw.js';

// Helpers for tests that send one login to a path and check whether it was judged.

const BODY = '{"username":"alice","password":"wonderland"}';
let lastSource = 1;

/** Return a loopback address per exchange, so earlier logins' counters never decide a later one. */
export function nextSource(): string {
  lastSource = lastSource >= 250 ? 2 : lastSource + 1;
  return `127.0.0.${lastSource}`;
}

/** The outcome of one login sent through a gateway to a recording app. */
export interface LoginPassage {
  status: number | undefined;
  /** The request as the app received it, if it did. */
  received?: ReceivedRequest;
  /** The decision line logged for that request, if any. */
  decision?: Record<string, any>;
}

/** Send a POST login to `target` and find what the app received and the decision logged for it. */
export async function passLogin(local: TestGateway, app: RecordingUpstream, target: string, body = BODY,
  type = 'application/json'): Promise<LoginPassage> {
  const before = app.requests.length;
  const exchange = await rawExchange(local.port, rawRequest('POST', target, loginHeaders(body, type), body), { source: nextSource() });
  const received = app.requests[before];
  if (!received) return { status: exchange.statuses[0] };

  const id = received.headers['x-request-id'];
  const decisionOf = () => local.logs.decisions.find((line) => line.http.request.id === id);
  // The gateway logs the line after the app's response. A request forwarded unjudged gets no line and costs the whole wait.
  await waitFor(() => decisionOf() !== undefined, `a decision for ${target}`, 500).catch(() => undefined);
  return { status: exchange.statuses[0], received, decision: decisionOf() };
}

/** Start a gateway with `routes` in front of a fresh recording app, both closed when `t` ends. */
export async function gatewayWithRoutes(t: Test, routes: Record<string, unknown>[]): Promise<{ local: TestGateway; app: RecordingUpstream }> {
  const app = await new RecordingUpstream().start();
  // Rules run in monitor mode: the same account logs in at many paths, and these tests check
  // which requests are judged, not what the rules decide.
  const local = await startTestGateway({ upstream: app.url, config: { mode: 'monitor', log: { username: 'plain' }, login_routes: routes } });
  t.teardown(async () => {
    await local.close();
    await app.stop();
  });
  return { local, app };
}

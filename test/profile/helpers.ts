import { resolve } from 'node:path';

import type { Test } from 'tap';

import { PROJECT_ROOT, login, startTestGateway, type Reply, type TestGateway } from '../helpers/gateway.js';
import { deleteKeysWithPrefix } from '../helpers/redis.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';

export const MAXMIND_CITY = resolve(PROJECT_ROOT, 'test/fixtures/maxmind/GeoLite2-City-Test.mmdb');
export const MAXMIND_ASN = resolve(PROJECT_ROOT, 'test/fixtures/maxmind/GeoLite2-ASN-Test.mmdb');

/** Addresses of MaxMind's test databases, with the places those databases give them. */
export const PLACES = {
  // GB, London (51.5142, -0.0931), accuracy 10 km; no ASN entry.
  london: '81.2.69.142',
  // SE, Linköping (58.4167, 15.6167), accuracy 76 km; AS29518 Bredband2 AB.
  linkoping: '89.160.20.112',
  // US, Milton WA (47.2513, -122.3149); AS209.
  milton: '216.160.83.57',
} as const;

export const STORES = ['memory', 'redis'] as const;

export interface ProfileHarness {
  gateway: TestGateway;
  upstream: RecordingUpstream;
  /** Log in through the trusted proxy as coming from `address`, with the device cookie if given. */
  loginFrom(username: string, password: string, address: string, cookie?: string): Promise<Reply>;
  /** The decision line of the n-th login (0-based), once written. */
  decision(index: number): Promise<Record<string, any>>;
}

/** Start a gateway with the MaxMind test databases, trusting 127.0.0.1 as its proxy. */
export async function startProfileGateway(
  t: Test,
  store: (typeof STORES)[number],
  clock: () => number,
  config: Record<string, unknown> = {},
): Promise<ProfileHarness> {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    store,
    clock,
    config: {
      trusted_proxies: ['127.0.0.1'],
      geo: { maxmind_city: MAXMIND_CITY, maxmind_asn: MAXMIND_ASN },
      ...config,
    },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    if (store === 'redis') await deleteKeysWithPrefix(gateway.config.store.keyPrefix);
  });

  return {
    gateway,
    upstream,
    loginFrom: (username, password, address, cookie) =>
      login(gateway.port, username, password, {
        headers: { 'x-forwarded-for': address, ...(cookie ? { cookie } : {}) },
      }),
    decision: async (index) => (await waitForDecisions(gateway.logs, index + 1))[index],
  };
}

/** The `name=value` part of a reply's device cookie, to send back as a Cookie header. */
export function deviceCookie(reply: Reply): string {
  const header = reply.headers['set-cookie']?.find((value) => value.startsWith('__Host-rg_device='));
  if (!header) throw new Error(`the reply (status ${reply.status}) set no device cookie`);
  return header.split(';')[0];
}

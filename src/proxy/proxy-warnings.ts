import type { IncomingMessage } from 'node:http';

import type { GatewayContext } from './context.js';

/** Most trusted proxy addresses named in warnings, so a misconfigured range cannot fill memory. */
const MAX_WARNED_PROXIES = 100;

/** Headers that proxies send in place of X-Forwarded-For, which riskgate does not read. */
const OTHER_CLIENT_HEADERS = ['forwarded', 'x-real-ip', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip'];

/**
 * Warn, once per proxy address, when a trusted proxy sends a login without X-Forwarded-For.
 * riskgate then judges the login as coming from the proxy itself, so every client behind it
 * shares one set of address counters, and one attacker there can block them all. Proxies
 * that send only `Forwarded` or nginx's `X-Real-IP` do this silently otherwise.
 */
export function warnMissingForwardedFor(context: GatewayContext, peer: string, request: IncomingMessage): void {
  if (request.headers['x-forwarded-for'] !== undefined) return;
  const warned = context.proxiesWithoutForwardedFor;
  if (warned.has(peer) || warned.size >= MAX_WARNED_PROXIES) return;
  warned.add(peer);

  context.logger.warn(
    {
      source: { address: peer },
      riskgate: { proxy_headers: OTHER_CLIENT_HEADERS.filter((name) => request.headers[name] !== undefined) },
    },
    'a trusted proxy sent a login without X-Forwarded-For, so riskgate judges it as coming from the proxy, and ' +
      'all its clients share one set of address counters: have the proxy send X-Forwarded-For (nginx: ' +
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for), or remove its address from trusted_proxies',
  );
}

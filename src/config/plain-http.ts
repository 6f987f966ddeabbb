import { isIP } from 'node:net';

import type { GatewayConfig } from './types.js';

/**
 * Return a warning for each URL that carries trust over plain HTTP to another host: a JWKS
 * URL, whose keys sign step-up assertions, and a webhook URL that gets the bearer token.
 * An attacker on the path could serve a key of their own and sign assertions with it, or
 * read the token. Loopback addresses and `localhost` pass, as for a sidecar on the same host.
 */
export function plainHttpWarnings(config: GatewayConfig): string[] {
  const warnings: string[] = [];
  const jwks = config.challenge.jwksUrl === undefined ? undefined : new URL(config.challenge.jwksUrl);
  if (jwks && jwks.protocol === 'http:' && !isLoopback(jwks.hostname)) {
    warnings.push(`challenge.jwks_url uses plain http to ${jwks.host}: an attacker on the path can serve a key of their own ` +
      'and sign step-up assertions with it; use https');
  }
  const webhook = config.webhook;
  if (webhook?.token !== undefined && webhook.url.protocol === 'http:' && !isLoopback(webhook.url.hostname)) {
    warnings.push(`webhook.url uses plain http to ${webhook.url.host}, and RISKGATE_WEBHOOK_TOKEN goes with every ` +
      'document, so an attacker on the path can read it; use https');
  }
  return warnings;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

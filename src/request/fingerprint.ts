import type { IncomingMessage } from 'node:http';

import type { LoginRoute } from '../config/types.js';
import type { GeoLookup } from '../geo/resolver.js';
import type { SignalValues } from '../signals/catalog.js';
import type { ClientAddress } from './client-ip.js';
import { lookupGeo, type GeoSignals } from './geo.js';
import { headerFingerprint } from './headers.js';
import { parseUserAgent, type UserAgentSignals } from './user-agent.js';

/** What riskgate reads from one login request before looking at any counter. */
export interface Fingerprint {
  client: ClientAddress;
  geo: GeoSignals;
  userAgent: UserAgentSignals;
  fingerprint: string;
  signals: SignalValues;
}

/** Build the rule signals of a login request from its address, headers and username. */
export function fingerprintRequest(
  request: IncomingMessage,
  route: LoginRoute,
  client: ClientAddress,
  username: string | undefined,
  deviceKnown: boolean,
  /** The address's location and network from the gateway's GeoResolver; geoip-lite alone without it. */
  lookup?: GeoLookup,
): Fingerprint {
  const geo = lookup?.geo ?? lookupGeo(client.address, client.private);
  const userAgent = parseUserAgent(request.headers['user-agent']);
  const fingerprint = headerFingerprint(request);
  const headers = request.headers;

  const signals: SignalValues = {
    ip: {
      address: client.address,
      version: BigInt(client.version),
      key: client.key,
      private: client.private,
      asn: BigInt(lookup?.asn ?? 0),
      as_org: lookup?.asOrganization ?? '',
    },
    geo: { ...geo },
    ua: { ...userAgent },
    request: {
      route: route.id,
      method: request.method ?? '',
      fingerprint,
      has_accept: headers.accept !== undefined,
      has_accept_language: headers['accept-language'] !== undefined,
      has_accept_encoding: headers['accept-encoding'] !== undefined,
      header_count: BigInt(request.rawHeaders.length / 2),
    },
    user: {
      present: username !== undefined && username !== '',
      length: BigInt(username?.length ?? 0),
    },
    device: { known: deviceKnown },
  };

  return { client, geo, userAgent, fingerprint, signals };
}

import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

import type { ClientAddress } from '../request/client-ip.js';

// Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy's own forwarding headers,
// which riskgate sets itself instead of passing on what the client claimed.
const DROPPED_REQUEST_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  // Headers from which older Symfony, Zend and Yii releases take the request path, so that
  // `POST /other` with `X-Original-URL: /login` is a login riskgate would not see.
  'x-original-url',
  'x-rewrite-url',
  // gunicorn takes the script name from a SCRIPT_NAME request header and routes by the rest
  // of the path, so `POST /x/login` with `SCRIPT_NAME: /x` reaches /login.
  'script-name',
  // Flask and other WSGI apps behind a proxy move the prefix named here out of the path, so
  // `POST /app/login` with `X-Script-Name: /app` reaches /login. nginx's X-Original-URI
  // carries the path the client asked for.
  'x-script-name',
  'x-original-uri',
  // Other names that proxies give the client's path or host, which an app or middleware
  // may take over the request's own.
  'x-original-path',
  'x-envoy-original-path',
  'x-request-uri',
  // Next.js's own server sets these between its internal parts, and some releases take the
  // route from them, or skip the app's middleware for a request that carries the last one.
  'x-invoke-path',
  'x-invoke-query',
  'x-matched-path',
  'x-middleware-subrequest',
  'x-original-host',
  'x-host',
  'x-host-override',
  'x-http-host-override',
]);

// Headers in which an authenticating proxy in front names the signed-in user. An app that
// trusts them would sign in a user other than the one riskgate judged, so they reach the app
// only from a trusted proxy.
const IDENTITY_HEADERS = new Set([
  'auth-user', 'x-auth-user', 'x-auth-email', 'x-user', 'x-username', 'x-email', 'x-client-verify', 'x-client-dn', 'gap-auth', 'eppn',
  // SiteMinder's agents name the user in these unbroken names.
  'smuser', 'smuserdn', 'smuniversalid', 'smsession', 'smauthreason', 'smrealm', 'smserversessionid',
]);

/**
 * Starts of the header names that authenticating proxies and platforms set. Authelia and
 * others send `Remote-User` and `Remote-Email`, oauth2-proxy `X-Auth-Request-`, and Kong
 * `X-Authenticated-` and `X-Consumer-`. Azure App Service sends `X-MS-Client-Principal` and
 * `X-MS-Token-`, Google IAP `X-Goog-`, Cloudflare Access `Cf-Access-`, AWS ALB
 * `X-Amzn-OIDC-` and Verified Access `X-Amzn-Ava-`, Pomerium `X-Pomerium-`, authentik
 * `X-Authentik-`, Tailscale `Tailscale-User-`, Shibboleth `Shib-` and `Eppn`, and IBM
 * WebSEAL junctions `iv-` (`iv-user-l`, `iv-creds`). TLS client certificates arrive as
 * `X-SSL-Client-` or `SSL-Client-`.
 */
const IDENTITY_PREFIXES = [
  'remote-', 'x-remote-', 'x-webauth-', 'x-auth-request-', 'x-authenticated-', 'x-consumer-', 'x-ms-client-principal',
  'x-ms-token-', 'x-goog-authenticated-user-', 'x-goog-iap-', 'cf-access-', 'x-amzn-oidc-', 'x-ssl-client', 'ssl-client',
  'x-client-cert', 'x-arr-clientcert', 'x-pomerium-', 'x-authentik-', 'tailscale-', 'x-amzn-ava-', 'shib-', 'x-shib-', 'iv-',
];

// Words that name the signed-in user, or the proof of it, wherever they stand: Google Cloud
// Endpoints' `X-Endpoint-API-UserInfo`, `X-Credential-Identifier`, `X-SSL-Cert`, `X-Remoteuser`.
// `Impersonate-` names the user another one acts as (Kubernetes' `Impersonate-Group`).
// Mobile carriers name the subscriber in `X-Wap-Msisdn`, `X-Imsi`, `X-UIDH` and `X-ACR`, and
// SAML proxies in `X-Saml-NameID`.
const IDENTITY_WORDS = new Set([
  'userinfo', 'remoteuser', 'userid', 'username', 'useremail', 'usermail', 'userlogin', 'usergroups', 'userroles',
  'principal', 'credential', 'claim', 'claims', 'jwt', 'oidc', 'ssl', 'cert', 'certificate', 'clientcert', 'webauth',
  'spiffe', 'impersonate', 'msisdn', 'imsi', 'uidh', 'acr', 'nameid', 'saml', 'superuser', 'sudo', 'creds', 'credentials',
  'userdn', 'universalid', 'loginid', 'cred', 'authuser', 'logonuser', 'samaccountname', 'userprincipalname',
]);
// Word runs that name a user another one acts for, a caller's line, or a passed step-up:
// `X-Act-As`, `X-On-Behalf-Of`, `X-Up-Calling-Line-Id`, `X-Step-Up`.
const IDENTITY_PHRASES = ['act-as', 'on-behalf-of', 'calling-line', 'step-up'];
// Words that name the user as the last word, or as the whole name: `X-Vouch-User`, `Proxy-User`,
// `X-Client-S-DN`, `X-Is-Admin`, `User`, `Email`.
const IDENTITY_LAST_WORDS = new Set([
  'user', 'email', 'upn', 'group', 'groups', 'role', 'roles', 'identity', 'subject', 'sub', 'uid', 'login', 'dn', 'cn', 'verify',
  'verified', 'admin', 'authenticated', 'mfa', '2fa',
]);
// Words that follow `user` in a user header: `X-User-Id`, `X-User-Name`, `X-User-Email`.
const USER_DETAIL_WORDS = new Set(['id', 'name', 'email', 'login', 'groups', 'roles', 'info', 'principal']);

/**
 * Return whether a lower-case header name reaches the app only from a trusted proxy: one in
 * which a proxy in front names the signed-in user, or gives the client's location (see
 * hasLocationWords). A user header is a known name or start, a word such as `userinfo`, a
 * last word such as `user` or `email`, or `user` followed by `id` or `name`. Platforms keep
 * adding such headers, so a list of exact names would always miss one. Browser-set `Sec-`
 * headers (`Sec-Fetch-User`) are left alone.
 */
const onlyFromTrustedProxy = cachedByName((name) => hasIdentityWords(name) || hasLocationWords(name));

/** Wrap a test of lower-case header names with a cache of at most 1,000 names, since names repeat. */
function cachedByName(test: (name: string) => boolean): (name: string) => boolean {
  const cache = new Map<string, boolean>();
  return (name) => {
    let result = cache.get(name);
    if (result === undefined) {
      result = test(name);
      if (cache.size < 1000) cache.set(name, result);
    }
    return result;
  };
}

function hasIdentityWords(name: string): boolean {
  if (name.startsWith('sec-')) return false;
  if (IDENTITY_HEADERS.has(name) || IDENTITY_PREFIXES.some((prefix) => name.startsWith(prefix))) return true;
  const words = name.split('-');
  if (IDENTITY_LAST_WORDS.has(words[words.length - 1])) return true;
  if (IDENTITY_PHRASES.some((phrase) => `-${name}-`.includes(`-${phrase}-`))) return true;
  return words.some((word, index) => IDENTITY_WORDS.has(word) ||
    (word === 'user' && index + 1 < words.length && USER_DETAIL_WORDS.has(words[index + 1])));
}

const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ForwardingContext {
  client: ClientAddress;
  /** True when the socket peer is a trusted proxy, whose X-Forwarded-Proto/-Host are kept. */
  peerTrusted: boolean;
  /** True when a trusted proxy's X-Forwarded-Prefix is forwarded (`forwarded_prefix: pass`). */
  passPrefix: boolean;
  requestId: string;
  /** Lower-case names of extra request headers to remove, such as the step-up header. */
  strip: ReadonlySet<string>;
  /** This gateway's id in `Riskgate-Via` (see VIA_HEADER). */
  hop: string;
}

/**
 * Header in which each gateway that forwards a request appends its id. A request that comes
 * back with a gateway's own id, as when `upstream` names the gateway itself or a load
 * balancer in front of it, is a loop and gets 508.
 */
export const VIA_HEADER = 'riskgate-via';

/** Maximum number of gateways a request may pass, however they are chained. */
export const MAX_VIA_HOPS = 8;

/** Return why a request is a forwarding loop through this gateway, or undefined. */
export function forwardingLoop(request: IncomingMessage, hop: string): string | undefined {
  const via = request.headers[VIA_HEADER];
  if (via === undefined) return undefined;
  const hops = (Array.isArray(via) ? via.join(',') : via).split(',').map((entry) => entry.trim());
  if (hops.includes(hop)) return 'the request came back to this gateway: its upstream leads to itself';
  if (hops.length >= MAX_VIA_HOPS) return `the request has passed ${hops.length} gateways, the most one may pass`;
  return undefined;
}

/**
 * Build the headers sent upstream: the client's end-to-end headers in their order, without
 * hop-by-hop ones, plus X-Forwarded-For/-Proto/-Host, X-Real-IP and X-Request-Id written
 * from what riskgate resolved, so the app reads the same client address riskgate judged.
 */
export function upstreamRequestHeaders(request: IncomingMessage, context: ForwardingContext): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const connectionListed = listedInConnection(request.headers.connection);
  const raw = request.rawHeaders;

  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index].toLowerCase();
    if (connectionListed.has(name) || isReplaced(name, context.strip)) continue;
    if (!context.peerTrusted && onlyFromTrustedProxy(name)) continue;
    const value = raw[index + 1];
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (name === 'cookie') headers[name] = `${existing}; ${value}`;
    else headers[name] = Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }

  // The client alone, without the trusted proxies riskgate already walked past: an app that
  // trusts one hop (riskgate) then reads the client, not the load balancer in front.
  headers['x-forwarded-for'] = context.client.address;
  headers['x-real-ip'] = context.client.address;
  // A trusted proxy that appends to these lists puts its own value last, after the client's.
  headers['x-forwarded-proto'] = (context.peerTrusted && lastValue(request.headers['x-forwarded-proto'])) || 'http';
  headers['x-forwarded-host'] = forwardedHost(request, context.peerTrusted);
  if (context.peerTrusted) {
    const port = lastValue(request.headers['x-forwarded-port']);
    if (port) headers['x-forwarded-port'] = port;
    // Spring joins a list of prefixes into one path, so the trusted proxy's list goes on whole.
    // Flask, Spring and Symfony put it in front of the paths of their redirects, which tell
    // a login's outcome, and load balancers such as AWS ALB pass a client's value on. So it
    // goes only where the operator says the proxy in front sets it.
    const prefix = request.headers['x-forwarded-prefix'];
    if (prefix && context.passPrefix) headers['x-forwarded-prefix'] = prefix;
  }
  headers['x-request-id'] = context.requestId;
  const via = request.headers[VIA_HEADER];
  headers[VIA_HEADER] = via === undefined ? context.hop : `${Array.isArray(via) ? via.join(', ') : via}, ${context.hop}`;
  return headers;
}

/**
 * Build the headers of a proxied WebSocket upgrade: rewritten like every other request, so
 * the app reads the same client address, plus the upgrade's own Connection and Upgrade.
 */
export function upgradeRequestHeaders(request: IncomingMessage, context: ForwardingContext): IncomingHttpHeaders {
  const headers = upstreamRequestHeaders(request, context) as IncomingHttpHeaders;
  headers.connection = 'Upgrade';
  headers.upgrade = request.headers.upgrade;
  return headers;
}

/** Copy an upstream response's headers as a flat raw list, without hop-by-hop ones. */
export function downstreamResponseHeaders(rawHeaders: readonly string[], connection: string | undefined): string[] {
  const listed = listedInConnection(connection);
  const result: string[] = [];
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index].toLowerCase();
    if (DROPPED_RESPONSE_HEADERS.has(name) || listed.has(name)) continue;
    result.push(rawHeaders[index], rawHeaders[index + 1]);
  }
  return result;
}

/**
 * Return whether a request header is one that riskgate removes or writes itself. Apps that
 * read headers as CGI variables (WSGI, Rack, PHP) turn `-` and `_` alike into `_`, so a
 * client's `X_Forwarded_For` or `Content_Type` would reach them as the header riskgate read
 * or wrote, and which of the two wins differs between them. Every name with an underscore
 * is therefore removed, as nginx and Apache httpd do by default.
 */
function isReplaced(name: string, strip: ReadonlySet<string>): boolean {
  if (name.includes('_')) return true;
  return DROPPED_REQUEST_HEADERS.has(name) || strip.has(name) || namesClientAddress(name);
}

// Words that name an address on their own (`X-Remote-IP`, `X-Azure-ClientIP`, `Cf-Pseudo-IPv4`).
const IP_WORDS = new Set(['ip', 'ipv4', 'ipv6', 'ipaddr', 'ipaddress', 'clientip', 'socketip', 'remoteip', 'realip', 'userip', 'peerip', 'remoteaddr', 'clientaddr']);
// Words that name an address only beside an owner word (`Remote-Addr`, `X-Envoy-External-Address`,
// `CloudFront-Viewer-Address`, `Remote-Host`).
const ADDRESS_WORDS = new Set(['addr', 'address', 'host']);
const OWNER_WORDS = new Set(['client', 'remote', 'peer', 'real', 'true', 'user', 'viewer', 'source', 'originating', 'socket', 'connecting', 'external']);

/**
 * Return whether a lower-case header name carries a client address or a proxy's forwarding
 * claim by its words: any `forwarded` header (`X-Forwarded-Port`, `Forwarded`), an `ip` word
 * (`Proxy-Client-IP`, `True-Client-IP`, `XClientIP`, `X-Real-IP6`), or `addr` beside `remote`
 * or `client`. Java, PHP and .NET helpers try long lists of such names, so a list of exact
 * names would always miss one.
 */
const namesClientAddress = cachedByName((name) => hasAddressWords(name));

// One word joining an owner and `ip`, with an optional version: `XClientIP`, `X-Real-IP6`.
const JOINED_IP_WORD = /^x?(client|remote|real|true|user|peer|socket|source|src|originating|connecting|cluster)?ip(v?[46])?(addr|address)?$/;

// Words of the headers in which a CDN or proxy gives the client's location, derived from its
// address (`CF-IPCountry`, `CloudFront-Viewer-Country`, `X-Akamai-Edgescape`, `X-Geo-City`).
// They reach the app only from a trusted proxy, as a CDN in front sets them.
const LOCATION_WORDS = new Set([
  'country', 'ipcountry', 'geo', 'geoip', 'edgescape', 'city', 'ipcity', 'latitude', 'iplatitude', 'longitude',
  'iplongitude', 'continent', 'ipcontinent', 'citylatlong', 'latlong', 'postal',
]);

// Starts of the names that only a CDN or platform sets, every one about the client or its
// connection: Cloudflare's `CF-Region`, `CF-Timezone` and `CF-Metro-Code`, and all of
// CloudFront's `CloudFront-Viewer-`, App Engine's `X-AppEngine-` and Vercel's `X-Vercel-IP-`.
const LOCATION_PREFIXES = ['cf-ip', 'cf-region', 'cf-postal', 'cf-metro', 'cf-timezone', 'cloudfront-viewer-', 'x-appengine-', 'x-vercel-ip-'];

/** Return whether a lower-case header name gives a client location by its words or its start. */
function hasLocationWords(name: string): boolean {
  return LOCATION_PREFIXES.some((prefix) => name.startsWith(prefix)) || name.split('-').some((word) => LOCATION_WORDS.has(word));
}

function hasAddressWords(name: string): boolean {
  if (name.includes('forwarded') || name.includes('coming-from')) return true;
  const words = name.split('-');
  if (words.some((word) => IP_WORDS.has(word) || JOINED_IP_WORD.test(word))) return true;
  return words.some((word) => ADDRESS_WORDS.has(word)) && words.some((word) => OWNER_WORDS.has(word));
}

const NONE_LISTED: ReadonlySet<string> = new Set();

function listedInConnection(value: string | undefined): ReadonlySet<string> {
  // Nearly every request sends only keep-alive or close, which name no header to remove.
  if (!value || /^\s*(keep-alive|close)\s*$/i.test(value)) return NONE_LISTED;
  return new Set(value.split(',').map((token) => token.trim().toLowerCase()).filter(Boolean));
}

/** Return the host riskgate sends the app in X-Forwarded-Host: a trusted proxy's, else Host. */
export function forwardedHost(request: IncomingMessage, peerTrusted: boolean): string {
  return (peerTrusted && lastValue(request.headers['x-forwarded-host'])) || request.headers.host || '';
}

function lastValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.at(-1) : value;
  return text?.split(',').at(-1)?.trim() || undefined;
}

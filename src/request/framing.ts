import type { IncomingMessage } from 'node:http';

import { getDomain } from 'tldts';

import type { LoginRoute } from '../config/types.js';
import { RequestRejection } from './body.js';

// Headers whose only job is the connection itself; naming them in Connection is expected.
const HOP_BY_HOP = new Set(['close', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']);

/**
 * Reject a Transfer-Encoding other than plain `chunked`. Node's parser removes the chunked
 * framing but leaves any other coding (`gzip, chunked`) in the body, and riskgate forwards
 * the body with a Content-Length of its own, so the app would read bytes riskgate could
 * not. RFC 9112 section 6.1 answers an unknown transfer coding with 501.
 */
export function checkTransferCoding(request: IncomingMessage): RequestRejection | undefined {
  const value = request.headers['transfer-encoding'];
  if (value === undefined || value.trim().toLowerCase() === 'chunked') {
    return undefined;
  }
  return new RequestRejection(501, 'unsupported transfer coding',
    `Transfer-Encoding "${value.slice(0, 64)}" is not supported; send the body with Content-Length or chunked alone`);
}

/** Most header fields a request may carry: Apache httpd's default (LimitRequestFields). */
export const MAX_HEADER_FIELDS = 100;

/**
 * Reject a request with more header fields than `MAX_HEADER_FIELDS`. Node drops fields past
 * its own count limit from what handlers see, yet still frames the body by a dropped
 * Content-Length, and apps on Node drop the fields riskgate adds after 2,000 client fields.
 * The server runs without Node's count limit, so this check counts every field.
 */
export function checkHeaderCount(request: IncomingMessage): RequestRejection | undefined {
  const fields = request.rawHeaders.length / 2;
  return fields > MAX_HEADER_FIELDS
    ? new RequestRejection(431, 'too many header fields',
      `the request carries ${fields} header fields; send at most ${MAX_HEADER_FIELDS}`)
    : undefined;
}

/**
 * Reject a request with more than one Host header, as RFC 9112 section 3.2 requires. The
 * app could route by either value, and Node's HTTP client refuses to forward two.
 */
export function checkHost(request: IncomingMessage): RequestRejection | undefined {
  let hosts = 0;
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    if (request.rawHeaders[index].toLowerCase() === 'host') hosts += 1;
  }
  if (hosts > 1) return new RequestRejection(400, 'invalid host header', `the request carries ${hosts} Host headers; send one`);
  // RFC 9112 section 3.2: an HTTP/1.1 request without Host gets 400.
  if (hosts === 0 && request.httpVersion === '1.1') {
    return new RequestRejection(400, 'missing host header', 'an HTTP/1.1 request must carry a Host header; send the server\'s name');
  }

  // RFC 9110 allows only host[:port]. Code that builds a URL from Host and the target
  // (`new URL(`http://${host}${req.url}`)`) reads `Host: x/login?` with `POST /` as /login.
  // An empty Host is refused too: `new URL('http://' + host + target)` reads `//x/login` as host x and path /login.
  const host = request.headers.host;
  if (host !== undefined && !HOST_FORM.test(host)) {
    return new RequestRejection(400, 'invalid host header',
      `the Host header "${host.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')}" is not host[:port]; send the server's name and port only`);
  }
  // A trusted proxy's X-Forwarded-Host reaches the app, which may build its URL from it the same way.
  const forwardedHosts = request.headers['x-forwarded-host'];
  const invalidForwarded = String(forwardedHosts ?? '').split(',').map((value) => value.trim()).find((value) => !HOST_FORM.test(value));
  if (forwardedHosts !== undefined && invalidForwarded !== undefined) {
    return new RequestRejection(400, 'invalid host header',
      `the X-Forwarded-Host value "${invalidForwarded.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')}" is not host[:port]; ` +
        'have the proxy send the server\'s name and port only');
  }
  return undefined;
}

/** A Host value as RFC 9110 allows it: a registered name, IPv4 or bracketed IPv6 literal, then an optional port. */
const HOST_FORM = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

/** Headers that frameworks read as the request's real method. */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * Reject a login whose headers the app could read differently from riskgate: a method
 * override header, a repeated Content-Type (Node keeps the first, other servers the
 * last), or a Connection header
 * naming an end-to-end header the login carries, which a proxy must remove before the
 * app reads the request (RFC 9110 section 7.6.1).
 */
export function checkLoginHeaders(request: IncomingMessage): RequestRejection | undefined {
  const raw = request.rawHeaders;
  let contentTypes = 0;
  const present = new Set<string>();
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index].toLowerCase();
    present.add(name);
    if (name === 'content-type') contentTypes += 1;
  }

  if (contentTypes > 1) {
    return new RequestRejection(400, 'ambiguous login headers',
      `the login carries ${contentTypes} Content-Type headers; send one`);
  }
  // An HTTP/1.0 request may leave Host out, but an app that routes by it returns an error
  // of its own for such a login, which would count as a failed password.
  if (!present.has('host')) {
    return new RequestRejection(400, 'missing host header', 'a login must carry a Host header; send the server\'s name');
  }

  // Frameworks run a POST with one of these as the method it names (Rack, Express's
  // method-override, Symfony, ASP.NET Web API), so the app would return its login
  // page, which riskgate would count as a success for the posted username.
  const override = METHOD_OVERRIDE_HEADERS.find((header) => present.has(header));
  if (override) {
    return new RequestRejection(400, 'method override on a login',
      `the login carries ${override}, which frameworks read as another request method; remove it`);
  }

  // Next.js runs the Server Action that this header names at any path, and the action's
  // arguments carry no field names, so riskgate could read no username or password.
  if (present.has('next-action')) {
    return new RequestRejection(400, 'server action on a login',
      'the login carries Next-Action, which runs a Next.js Server Action whose arguments riskgate cannot read; ' +
        'check passwords in a Route Handler at the login path');
  }

  const listed = (request.headers.connection ?? '').split(',').map((token) => token.trim().toLowerCase());
  const removed = listed.find((token) => token !== '' && !HOP_BY_HOP.has(token) && present.has(token));
  if (removed) {
    return new RequestRejection(400, 'ambiguous login headers',
      `the Connection header lists "${removed.slice(0, 64)}", which would be removed before the app reads the login; ` +
        'list only keep-alive or close');
  }
  return undefined;
}

/**
 * Reject a login that a page on another site made the browser send, on a route with
 * `cross_site: refuse`, or a page on another origin with `cross_site: same-origin`. Such a page can make each visitor's browser post made-up usernames,
 * and counting them would block the visitor's own address. Browsers since 2023 mark such
 * a login in `Sec-Fetch-Site`. Older ones (Safari before 16.4) send only `Origin`, so
 * without `Sec-Fetch-Site` an `Origin` of `null` (a sandboxed frame) or of a host outside
 * the request's own site counts as cross-site too. Besides `Host`, only a trusted proxy's
 * (`peerTrusted`) `X-Forwarded-Host` names the request's host, because a page may send it.
 */
export function checkCrossSite(request: IncomingMessage, route: LoginRoute, peerTrusted: boolean): RequestRejection | undefined {
  if (route.crossSite === 'judge') return undefined;
  const sameOrigin = route.crossSite === 'same-origin';
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') {
    const value = site.trim().toLowerCase();
    if (value === 'cross-site') return crossSiteRejection('Sec-Fetch-Site: cross-site');
    if (sameOrigin && value !== 'same-origin' && value !== 'none') return crossSiteRejection(`Sec-Fetch-Site: ${value.slice(0, 32)}`);
    return undefined;
  }

  const origin = request.headers.origin;
  if (typeof origin !== 'string') return undefined;
  if (origin.trim() === 'null') return crossSiteRejection('Origin: null');
  const originHost = hostOfOrigin(origin);
  const forwarded = peerTrusted ? String(request.headers['x-forwarded-host'] ?? '').split(',') : [];
  const hosts = [request.headers.host, ...forwarded]
    .map((value) => hostWithoutPort(value?.trim() ?? ''))
    .filter((value) => value !== '');
  if (originHost === undefined || !hosts.some((host) => sameSite(originHost, host))) {
    return crossSiteRejection('an Origin of another site');
  }
  if (sameOrigin && !hosts.includes(originHost)) return crossSiteRejection('an Origin of another host');
  return undefined;
}

function crossSiteRejection(reason: string): RequestRejection {
  return new RequestRejection(403, 'cross-site login refused',
    `the login was sent from a page on another site or origin (${reason}); log in from the app's own page, ` +
      'or set cross_site: judge on the route when other sites or hosts serve its login form');
}

/** Return the lower-case host name of an `Origin` value, or undefined when it is not one. */
function hostOfOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin.trim());
    return url.hostname === '' ? undefined : url.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Return the lower-case host name of a Host value (`name`, `name:port`, `[v6]:port`). */
function hostWithoutPort(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/**
 * Return whether two host names share a site: the same registrable domain under the public
 * suffix list, private suffixes such as `github.io` included, as browsers read a site. So
 * `evil.co.uk` is not `victim.co.uk`'s site. Hosts with no registrable domain (addresses,
 * `localhost`) must be equal.
 */
function sameSite(first: string, second: string): boolean {
  if (first === second) return true;
  const site = (host: string) => getDomain(host, { allowPrivateDomains: true });
  const firstSite = site(first);
  return firstSite !== null && firstSite === site(second);
}

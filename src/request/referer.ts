import type { IncomingMessage } from 'node:http';

import { normalizePath } from './path.js';

/**
 * The Referer of a login as the outcome check reads it. `paths` contains the normalised paths
 * of the one page the client named, or none when it sent no Referer. `untrusted` gives the
 * reason apps may read the header differently, so no redirect of that login can be a success.
 */
export type RefererReading = { paths: readonly string[] } | { untrusted: UntrustedReferer };

/** The reason a Referer is untrusted, as the decision line's `riskgate.outcome_reason` names it. */
export type UntrustedReferer = 'referer_repeated' | 'referer_not_url' | 'referer_path_unreadable';

// Printable ASCII without space, backslash or "#", because a browser percent-encodes every
// other character and strips the fragment before it sends a Referer.
const BROWSER_URL = /^https?:\/\/[\x21-\x22\x24-\x5b\x5d-\x7e]+$/i;

/**
 * Read the Referer of a login. A browser sends at most one Referer, always an absolute http(s)
 * URL, and never a `Referrer` header. Apps read anything else in ways that disagree: Node
 * joins repeated `Referrer` headers with ", " for Express 4's `req.get('Referrer')`, Laravel's
 * UrlGenerator::to() turns `home` into the site root's /home, and WHATWG URL parsing reads
 * `/\home` as the host `home`. So more than one Referer or Referrer header, counting both
 * spellings together, or a value that is not such a URL, is `untrusted`.
 */
export function readReferer(request: Pick<IncomingMessage, 'rawHeaders'>): RefererReading {
  const values = refererValues(request);
  if (values.length === 0) return { paths: [] };
  if (values.length > 1) return { untrusted: 'referer_repeated' };
  return readRefererUrl(values[0]);
}

/** List every Referer or Referrer value a login carries, in order. */
function refererValues(request: Pick<IncomingMessage, 'rawHeaders'>): string[] {
  const values: string[] = [];
  const raw = request.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index].toLowerCase();
    if (name === 'referer' || name === 'referrer') values.push(raw[index + 1]);
  }
  return values;
}

/**
 * Read the path of an absolute http(s) Referer under each reading an app may use: the WHATWG
 * URL's path and the path as sent, both normalised as login paths are.
 */
function readRefererUrl(value: string): RefererReading {
  const notUrl = { untrusted: 'referer_not_url' } as const;
  if (!BROWSER_URL.test(value)) return notUrl;

  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return notUrl;
  }
  // Browsers strip user info from a Referer.
  if (url.username !== '' || url.password !== '' || url.hostname === '') return notUrl;

  const afterScheme = value.slice(value.indexOf('//') + 2);
  const pathStart = afterScheme.search(/[/?]/);
  const sentTarget = pathStart === -1 ? '/' : afterScheme.slice(pathStart);
  const sentPath = sentTarget.startsWith('?') ? '/' : sentTarget;

  const paths = new Set<string>();
  for (const path of [url.pathname, sentPath]) {
    const reading = normalizePath(path, { apiVersions: false });
    if ('invalid' in reading) return { untrusted: 'referer_path_unreadable' };
    paths.add(reading.path);
  }
  return { paths: [...paths] };
}

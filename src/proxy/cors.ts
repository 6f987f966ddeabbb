import type { ServerResponse } from 'node:http';

/** Headers riskgate sets on its own responses to a login from a listed origin. */
const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

/**
 * Let a login client on `origin` read riskgate's own response: a challenge, a block or a
 * rejection. Without these headers a browser hides the response from a page on another
 * origin, whose user could then never complete a step-up. The response names the challenge
 * in `WWW-Authenticate` and a block's wait in `Retry-After`, so those are exposed too.
 */
export function allowOrigin(response: ServerResponse, origin: string): void {
  response.setHeader('access-control-allow-origin', origin);
  response.setHeader('access-control-allow-credentials', 'true');
  response.setHeader('access-control-expose-headers', 'WWW-Authenticate, Retry-After');
  response.appendHeader('vary', 'Origin');
}

/** Remove the headers of allowOrigin before the app's own response is relayed with its own. */
export function withdrawOrigin(response: ServerResponse): void {
  for (const name of CORS_HEADERS) response.removeHeader(name);
  response.removeHeader('vary');
}

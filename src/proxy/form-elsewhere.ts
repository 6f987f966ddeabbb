import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { LoginRoute } from '../config/types.js';
import { RequestRejection, readBody } from '../request/body.js';
import { parseLoginBody } from '../request/credentials.js';
import { WatchedFields } from '../request/form-route-scan.js';
import { formRouteCheck } from './body-route.js';
import type { GatewayContext, LoginPathIndex } from './context.js';
import { forwardRequest, sendProblem } from './forward.js';
import { handleLogin, queryOf } from './login.js';

/** The login routes that the app checks on any page, and their password fields to watch for. */
export interface ElsewhereRoutes {
  routes: readonly LoginRoute[];
  watched: { fields: WatchedFields; routes: readonly string[] };
}

/** Collect the routes with `any_path`, or undefined when there are none. */
export function elsewhereRoutes(routes: Iterable<LoginRoute>): ElsewhereRoutes | undefined {
  const found = [...new Set([...routes].filter((route) => route.anyPath))];
  if (found.length === 0) return undefined;
  return {
    routes: found,
    watched: { fields: new WatchedFields(found.map((route) => route.passwordField)), routes: found.map((route) => route.id) },
  };
}

/**
 * Return the first field of a request target's query that an `any_path` route reads as its
 * password, or undefined. TYPO3 reads its login fields from the query as from the body
 * (`_GP`), so a GET to any page can be a login there.
 */
export function elsewhereQueryField(url: string | undefined, elsewhere: ElsewhereRoutes): string | undefined {
  const query = queryOf(url);
  if (query === '') return undefined;
  for (const [name] of new URLSearchParams(query.replaceAll(';', '&'))) {
    if (elsewhere.watched.fields.matches(name)) return name.slice(0, 64);
  }
  return undefined;
}

/**
 * Judge a URL-encoded form posted to a path that is not a login path, for an app that checks
 * a route's login on any page (Drupal 7's login block, TYPO3's felogin, WooCommerce's login
 * form). A body within `body_limit_bytes` is read whole: when it sends a route's password
 * field it is judged as that route's login, and otherwise it goes to the app as read.
 * Returns false, having read nothing, for a body riskgate streams instead: multipart, chunked
 * or over the limit, which formRouteCheck refuses when it sends such a field.
 */
export async function judgeFormElsewhere(
  context: GatewayContext,
  elsewhere: ElsewhereRoutes,
  loginPaths: LoginPathIndex,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  headers: OutgoingHttpHeaders,
  rejected: (reason: string) => void,
): Promise<boolean> {
  const contentType = request.headers['content-type'] ?? '';
  const declared = request.headers['content-length'];
  if (request.method !== 'POST' || !/^\s*application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) return false;
  if (request.headers['transfer-encoding'] !== undefined || declared === undefined) return false;
  if (Number(declared) > context.config.bodyLimitBytes) return false;

  let body: Buffer;
  try {
    body = await readBody(request, context.config.bodyLimitBytes);
  } catch (error) {
    if (!(error instanceof RequestRejection)) throw error;
    rejected(error.title);
    sendProblem(response, error.status, error.title, error.detail, true);
    return true;
  }

  // The route whose username field the form sends too wins, since several may share a
  // password field name (`pass` in Drupal and TYPO3). A body the login parser refuses is
  // refused as a login would be, by handleLogin.
  const query = queryOf(request.url);
  let chosen: LoginRoute | undefined;
  for (const route of elsewhere.routes) {
    let reading: { username: boolean; password: boolean } = { username: true, password: true };
    try {
      const parsed = parseLoginBody(body, contentType, route, query);
      reading = { username: parsed.username !== undefined, password: parsed.passwordSent };
    } catch (error) {
      if (!(error instanceof RequestRejection)) throw error;
    }
    if (!reading.password) continue;
    chosen ??= route;
    if (reading.username) {
      chosen = route;
      break;
    }
  }
  if (chosen) {
    await handleLogin(context, chosen, request, response, requestId, body);
    return true;
  }

  // The body was read here, so the check of its routing fields runs on it whole.
  const check = formRouteCheck(request, loginPaths);
  check?.write(body);
  const problem = check?.finish();
  if (problem !== undefined) {
    const { title, detail } = typeof problem === 'string' ? { title: 'login path in a form body', detail: problem } : problem;
    rejected(title);
    sendProblem(response, 400, title, detail, true);
    return true;
  }
  const result = await forwardRequest(context.upstream, request, response, { headers, body });
  if (result.error && result.error.kind !== 'reset' && result.error.kind !== 'aborted') {
    context.logger.error(
      { upstream: context.upstream.url.origin, http: { request: { id: requestId } }, err: { message: result.error.message } },
      'upstream request failed',
    );
  }
  return true;
}

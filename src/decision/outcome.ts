import type { LoginRoute } from '../config/types.js';
import { normalizePath } from '../request/path.js';
import type { RefererReading, UntrustedReferer } from '../request/referer.js';
import { statusListMatches } from './status-list.js';

type LoginOutcome = 'success' | 'failure' | 'unknown';

/**
 * The reason a response counts as `unknown`, logged as `riskgate.outcome_reason` so an operator can
 * tell which setting or request header kept a login from teaching anything. `no_password`:
 * a 2xx to a login that did not fill the route's password field in any reading.
 * `password_ambiguous`: a 2xx to a login that filled it in some readings but not all, or
 * named an OAuth grant other than `password`. `path_variant`: a 2xx at a path other than
 * the route's own that riskgate reads as the route. `field_not_listed`: a 2xx to a login whose
 * field holds a value the route's `success_fields` does not list. `html_page`: a 2xx HTML
 * page on a route that leaves `success_status` at its default. `failure_path_chosen`: a
 * redirect to the page the login named for a failure (Symfony's `_failure_path`).
 * `username_in_query`: a success of a login whose username only the query string named,
 * which an app may not read (the password step of an identifier-first login).
 */
export type UnknownRedirectReason =
  | UntrustedReferer
  | 'redirect_to_login'
  | 'redirect_to_referer'
  | 'location_not_listed'
  | 'status_not_listed'
  | 'no_password'
  | 'password_ambiguous'
  | 'path_variant'
  | 'field_not_listed'
  | 'html_page'
  | 'failure_path_chosen'
  | 'username_in_query';

/** The outcome of a login response, and for an unclassified redirect the reason. */
export interface OutcomeReading {
  outcome: LoginOutcome;
  reason?: UnknownRedirectReason;
}

/**
 * Tell whether the app responded to a forwarded login, given its `upstream_error`. An invalid
 * response counts: an app that copies the username into a header can be made to send bytes
 * that Node's parser refuses, and it checked the password before it responded.
 */
export function appAnswered(upstreamError: string | undefined): boolean {
  return upstreamError === undefined || upstreamError === 'invalid';
}

/**
 * Tell whether an unknown outcome's reason means the app checked no password, so counters
 * skip it. Only a login that filled no password in any reading (`no_password`) is such a
 * login: one at another path or with an unlisted field may still have run the login handler.
 */
export function checkedNoPassword(reason: string | undefined): boolean {
  return reason === 'no_password';
}

type OutcomeRoute = Pick<LoginRoute, 'path' | 'successStatus' | 'failureStatus' | 'successLocation' | 'failureLocation'>;

/** Classify an app's status code as a login success or failure by the route's lists. */
export function classifyStatus(status: number, success: readonly string[], failure: readonly string[]): LoginOutcome {
  if (statusListMatches(status, failure)) return 'failure';
  if (statusListMatches(status, success)) return 'success';
  return 'unknown';
}

/**
 * Classify an app's response to a login. Form-login apps (Spring Security, Devise, Laravel)
 * redirect after both outcomes, so a redirect is classified by its Location first. Any other
 * status is classified by the route's status lists. `referer` is the login's Referer as
 * readReferer reads it.
 */
export function classifyResponse(
  status: number,
  location: string | undefined,
  route: OutcomeRoute,
  referer: RefererReading,
): OutcomeReading {
  if (status < 300 || status >= 400) return { outcome: classifyStatus(status, route.successStatus, route.failureStatus) };
  return classifyRedirect(status, location, route, referer);
}

/** Media types of an HTML page: JSF and other XHTML apps serve their form as XHTML to clients that ask for it. */
const HTML_PAGE = /^\s*(?:text\/html|application\/(?:vnd\.wap\.)?xhtml\+xml)\s*(?:;|$)/i;

/**
 * Turn a success by a 2xx HTML or XHTML page into `unknown` (`html_page`) on a route that leaves
 * `success_status` at its default. WordPress, Django and ASP.NET Core Identity re-render
 * their login form with 200 after a wrong password, so such a page proves a success only
 * where the route's `success_status` is set.
 */
export function withoutHtmlSuccess(
  reading: OutcomeReading,
  status: number,
  contentType: string | undefined,
  route: Pick<LoginRoute, 'successStatusDefault'>,
): OutcomeReading {
  if (reading.outcome !== 'success' || status >= 300 || !route.successStatusDefault) return reading;
  return HTML_PAGE.test(contentType ?? '') ? { outcome: 'unknown', reason: 'html_page' } : reading;
}

/**
 * Classify a redirect. A failure location or failure status wins. A redirect to the login
 * page, or to a page the client named in its Referer, is never a success, because an app
 * that sends a failed login "back" (Laravel's `back()`, Express 4's `res.redirect('back')`)
 * lets the client choose that page. A login whose Referer is untrusted (see readReferer) has
 * no success by redirect at all, because riskgate cannot tell which page such an app reads
 * from it. Once a route lists locations, any other page is unknown.
 */
function classifyRedirect(
  status: number,
  location: string | undefined,
  route: OutcomeRoute,
  referer: RefererReading,
): OutcomeReading {
  const target = location === undefined ? undefined : redirectPath(location, route.path);
  if (target !== undefined && route.failureLocation.includes(target)) return { outcome: 'failure' };
  if (statusListMatches(status, route.failureStatus)) return { outcome: 'failure' };
  if ('untrusted' in referer) return { outcome: 'unknown', reason: referer.untrusted };

  if (target !== undefined) {
    if (target === redirectPath(route.path, route.path)) return { outcome: 'unknown', reason: 'redirect_to_login' };
    if (referer.paths.includes(target)) return { outcome: 'unknown', reason: 'redirect_to_referer' };
    if (route.successLocation.includes(target)) return { outcome: 'success' };
  }
  if (route.successLocation.length > 0 || route.failureLocation.length > 0) {
    return { outcome: 'unknown', reason: 'location_not_listed' };
  }
  return statusListMatches(status, route.successStatus) ? { outcome: 'success' } : { outcome: 'unknown', reason: 'status_not_listed' };
}

/**
 * Read the path of a Location value, which may be an absolute URL, a path with a query, or a
 * path relative to the login's. The path is normalised as login paths are, so
 * case, trailing slashes and dot segments cannot tell two values apart, but version
 * segments stay as written (see normalizePath). A path that does not normalise is compared as sent.
 */
function redirectPath(value: string, loginPath: string): string {
  let path: string;
  try {
    path = new URL(value, `http://location.invalid${loginPath}`).pathname;
  } catch {
    path = value;
  }
  const reading = normalizePath(path, { apiVersions: false });
  return 'path' in reading ? reading.path : path;
}

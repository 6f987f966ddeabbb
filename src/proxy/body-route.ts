import type { IncomingMessage } from 'node:http';

import { WatchedFields, boundaryProblem, createFormRouteScanner } from '../request/form-route-scan.js';
import { normalizePath, type PathReading } from '../request/path.js';
import { UnreadableRoute, bodyRoutedTargets, dotSegmentReadings, queryRoutedTargets, withRouteBases } from '../request/query-route.js';
import { loginMethodsAt, type LocaleReading, type LoginPathIndex } from './context.js';
import type { BodyCheck } from './forward.js';

/**
 * Maximum length of all the paths read from one request's routing values together. Each
 * value is read as several paths, with and without a base, and each path is folded per
 * character, so this bounds that work to about a millisecond.
 */
const MAX_ROUTED_CHARACTERS = 16 * 1024;

/**
 * Return the reading of the first routed target that reaches a login path, or undefined
 * when none does. A target that riskgate cannot read is unreadable when it reaches a login
 * path once its dot segments are dropped or resolved, as PHP routers do, or once its
 * control characters are dropped, as routers that match with PCRE's `$` or trim the value
 * may read `/login%0A`. Its reading then gives the reason.
 */
export function routedLoginReading(
  targets: readonly string[],
  loginPaths: LoginPathIndex,
  locale?: LocaleReading,
): PathReading | undefined {
  const length = targets.reduce((sum, target) => sum + target.length, 0);
  if (length > MAX_ROUTED_CHARACTERS) {
    return { invalid: `the routing values read as ${length} characters of paths, more than riskgate reads for one request ` +
      `(${MAX_ROUTED_CHARACTERS}); send fewer or shorter ones` };
  }
  // A reading through a locale segment comes after every other target's (see LocaleReading).
  if (locale === undefined) return routedLoginReading(targets, loginPaths, 'never') ?? routedLoginReading(targets, loginPaths, 'only');

  const reaches = (path: string) => {
    const reading = normalizePath(path);
    return 'path' in reading && loginMethodsAt(loginPaths, reading.path, locale) !== undefined;
  };

  const unreadable: [string, PathReading][] = [];
  for (const target of targets) {
    const routed = normalizePath(target);
    if ('path' in routed && loginMethodsAt(loginPaths, routed.path, locale)) return routed;
    if ('path' in routed) continue;
    if (dotSegmentReadings(target).some(reaches)) return routed;
    unreadable.push([target, routed]);
  }

  // Another reading that reaches a login path wins over one with control characters, as
  // WordPress runs `/x%0A` as /x.
  for (const [target, routed] of unreadable) {
    if (reaches(target.replace(/%(?:[01][0-9a-f]|7f)|[\x00-\x1f\x7f]/gi, ''))) return routed;
  }
  return undefined;
}

/**
 * Return whether a login names another route for a front controller: a routing parameter
 * in its query (`/login?q=node`, `/login?/node`), or a `rest_route` or `r` field in its form
 * body. Such an app runs the route it names, so its 2xx proves nothing about the password.
 */
export function carriesRoutingParameter(url: string, body: Buffer, contentType: string | undefined): boolean {
  try {
    if (queryRoutedTargets(url).length > 0) return true;
  } catch (error) {
    if (error instanceof UnreadableRoute) return true;
    throw error;
  }
  const scanner = createFormRouteScanner(contentType);
  if (!scanner) return false;
  scanner.write(body);
  const scan = scanner.finish();
  return 'problem' in scan || scan.routes.length > 0;
}

/**
 * Return why a body sent to a path that is not a login path cannot be checked for form
 * routing fields, or undefined when it can. Two Content-Type headers leave its type
 * unsure, and a multipart boundary too long to scan cheaply is refused (see boundaryProblem). A compressed form cannot be read as it streams, while Apache's DEFLATE input
 * filter hands PHP the form decoded, routing fields included.
 */
export function uncheckableForm(request: IncomingMessage): string | undefined {
  // Node keeps the first of two Content-Type headers, and a server in front of the app may keep the last.
  let contentTypes = 0;
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    if (request.rawHeaders[index].toLowerCase() === 'content-type') contentTypes += 1;
  }
  if (contentTypes > 1) {
    return `the body carries ${contentTypes} Content-Type headers, which servers read in different ways; send one`;
  }

  const boundary = boundaryProblem(request.headers['content-type']);
  if (boundary !== undefined) return boundary;

  const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return undefined;
  if (createFormRouteScanner(request.headers['content-type']) === undefined) return undefined;
  return 'a form body with a Content-Encoding cannot be checked for routing fields as it streams; send it uncompressed';
}

/**
 * Return the check of a form body sent to a path that is not a login path, or undefined
 * for a request whose body is not a form. WordPress routes a POST by its `rest_route` field
 * and Yii 1.1 by its `r` field, so `rest_route=/jwt-auth/v1/token` posted to any page is a
 * login there. The check reads the body as it streams to the app. The forwarder holds back
 * the last byte until the check has read the whole body. So a body that routes to a login
 * path is cut off before the app has it whole, and the client gets 400.
 */
export function formRouteCheck(
  request: IncomingMessage,
  loginPaths: LoginPathIndex,
  /** Password fields of routes whose logins the app checks on any page (see elsewhereRejection). */
  watched?: { fields: WatchedFields; routes: readonly string[] },
): BodyCheck | undefined {
  const scanner = createFormRouteScanner(request.headers['content-type'], watched?.fields);
  if (!scanner) return undefined;
  return {
    write: (chunk) => scanner.write(chunk),
    finish: () => {
      const scan = scanner.finish();
      if ('problem' in scan) {
        return `${scan.problem}; riskgate refuses a form it cannot check for routing fields within its limits`;
      }
      let routed = 0;
      for (const { name, value } of scan.routes) {
        let targets: string[];
        try {
          targets = withRouteBases(request.url ?? '/', bodyRoutedTargets(name, value, loginPaths.restPaths));
        } catch (error) {
          if (error instanceof UnreadableRoute) return `${error.message}; send a route as a plain path`;
          throw error;
        }
        // The values of one body share the budget of one request.
        routed += targets.reduce((sum, target) => sum + target.length, 0);
        if (routed > MAX_ROUTED_CHARACTERS) {
          return `the form's routing values read as more than ${MAX_ROUTED_CHARACTERS} characters of paths; send fewer or shorter ones`;
        }
        const reading = routedLoginReading(targets, loginPaths);
        if (reading === undefined) continue;
        const named = 'path' in reading
          ? `names the login path ${reading.path}`
          : `names a login path that PHP routers read from it (${reading.invalid})`;
        return `the form field ${name}, which WordPress and Yii route by, ${named}; send logins to the login path itself`;
      }
      if (scan.watched !== undefined && watched) return elsewhereRejection(scan.watched, watched.routes);
      return undefined;
    },
  };
}

/**
 * Refuse a form that sends the password field of a login route that the app checks on any
 * page (`any_path`) when riskgate could not read it whole first, because it was multipart,
 * chunked or over `body_limit_bytes`. Such a body is a login riskgate did not judge.
 */
function elsewhereRejection(field: string, routes: readonly string[]): { title: string; detail: string } {
  return {
    title: 'unjudged login in a form body',
    detail: `the form sends the field "${field}", which the app reads as the password of login route ${routes.join(', ')} on any page, ` +
      'and was sent multipart, chunked or over body_limit_bytes, so riskgate could not judge it first; ' +
      'send logins URL-encoded with a Content-Length within body_limit_bytes',
  };
}

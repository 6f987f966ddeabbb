import { isScriptName } from '../request/served-files.js';
import { statusListMatches } from '../decision/status-list.js';
import type { GatewayConfig } from './types.js';

/** Return the warnings about login routes whose outcome settings miscount failures. */
export function outcomeWarnings(config: GatewayConfig): string[] {
  return [...missingFailureLocationWarnings(config), ...pageSuccessWarnings(config)];
}

/**
 * Return a warning for each login route that sets `success_status` to include 200 while 200
 * is no failure status. The HTML-page rule then no longer applies, and an app that
 * re-renders its login form with 200 after a wrong password has each failure count as a
 * success, which clears failure counts and teaches the account profile.
 */
function pageSuccessWarnings(config: GatewayConfig): string[] {
  return config.loginRoutes
    .filter((route) => !route.successStatusDefault && statusListMatches(200, route.successStatus) &&
      !statusListMatches(200, route.failureStatus))
    .map((route) => `login route ${route.id} sets success_status to include 200, so a 200 HTML page counts as a success, ` +
      'and an app that shows its login form again with 200 after a wrong password has every failure count as a success; ' +
      'leave success_status unset unless the app answers a successful login with a 2xx page');
}

/**
 * Return a warning for each login route that lists success locations but no failure
 * location. A form-login app redirects after a failure too, and such a redirect goes to a
 * page the route does not list, or to the login page, and counts as no failure. The account
 * and address failure counters then never rise, and the rules on them never fire.
 */
function missingFailureLocationWarnings(config: GatewayConfig): string[] {
  return config.loginRoutes
    .filter((route) => route.successLocation.length > 0 && route.failureLocation.length === 0)
    .map((route) => `login route ${route.id} lists success_location but no failure_location, so a failed login that ` +
      'redirects counts as no failure and the failure counters never rise; list the page a failure goes to under ' +
      'failure_location, such as the login page with its error query');
}

/**
 * Return a warning when the device cookie is Secure but its name lacks the `__Host-` prefix.
 * Browsers accept a `__Host-` cookie only from the site itself. Without the prefix, a sibling
 * subdomain can set cookies of the same name for the parent domain, which browsers send
 * first and which hide the owner's device cookie.
 */
export function deviceCookieWarnings(config: GatewayConfig): string[] {
  const { name, secure } = config.deviceCookie;
  if (!secure) return [];
  const warnings: string[] = [];
  if (!name.startsWith('__Host-')) {
    warnings.push(`device_cookie.name "${name}" has no __Host- prefix although the cookie is Secure, so a sibling subdomain can ` +
      'set cookies of that name that hide the owner\'s device; use __Host-' + name.replace(/^__Secure-/, '') + ', or leave the name unset');
  }
  const stepUp = config.challenge.cookie;
  if (config.challenge.mode === 'step-up' && !stepUp.startsWith('__Host-')) {
    warnings.push(`challenge.cookie "${stepUp}" has no __Host- prefix, so a sibling subdomain can set cookies of that name ` +
      'that the browser sends before the MFA page\'s and that hide the owner\'s assertion; use __Host-' +
      stepUp.replace(/^__Secure-/, '') + ' (the MFA page sets it Secure, with Path=/ and no Domain), or leave the name unset');
  }
  return warnings;
}

/**
 * Return a warning for each login route whose path ends in a script (`/wp-login.php`) and
 * whose `subpaths` is `forward`. PHP, CGI and ASP.NET run the script for every path below
 * it (`/wp-login.php/x`), so those logins reach the app unjudged.
 */
export function subpathWarnings(config: GatewayConfig): string[] {
  return config.loginRoutes
    .filter((route) => route.subpaths === 'forward' && isScriptName((route.path.split('/').at(-1) ?? '').toLowerCase()))
    .map((route) => `login route ${route.id} has subpaths: forward, but its path ${route.path} is a script, which the ` +
      `server also runs for paths below it (${route.path}/x), so those logins reach the app unjudged; leave subpaths at judge`);
}

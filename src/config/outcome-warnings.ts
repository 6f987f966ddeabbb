import type { GatewayConfig } from './types.js';

/**
 * Return a warning for each login route that lists success locations but no failure
 * location. A form-login app redirects after a failure too, and such a redirect goes to a
 * page the route does not list, or to the login page, and counts as no failure. The account
 * and address failure counters then never rise, and the rules on them never fire.
 */
export function outcomeWarnings(config: GatewayConfig): string[] {
  return config.loginRoutes
    .filter((route) => route.successLocation.length > 0 && route.failureLocation.length === 0)
    .map((route) => `login route ${route.id} lists success_location but no failure_location, so a failed login that ` +
      'redirects counts as no failure and the failure counters never rise; list the page a failure goes to under ' +
      'failure_location, such as the login page with its error query');
}

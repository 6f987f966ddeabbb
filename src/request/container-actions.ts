/**
 * Login actions that Java web frameworks run under paths other than their own. A login
 * route that names one is reached at those paths too.
 */

/** The action a login route names, and where a request reaches it. */
export interface ContainerAction {
  /**
   * `anywhere`: any path with the segment `name`. `below`: a last segment that names it,
   * anywhere below `directory`. `suffix`: any path that ends with `name`, the route's path
   * without its first `/`.
   */
  reach: 'anywhere' | 'below' | 'suffix';
  /** The route path's directory, `''` at the root. */
  directory: string;
  /** The route path's last segment (`j_security_check`), or the action's name without `.action` (`login`). */
  name: string;
}

/**
 * The servlet container's form login action (Servlet specification, FORM authentication),
 * and Spring Security's default login URL before 4.0, which it matched with `endsWith`.
 */
const FORM_LOGIN_ACTIONS = new Set(['j_security_check', 'j_spring_security_check']);

/** The extension Struts 2 maps to actions by default. */
const STRUTS_EXTENSION = '.action';

/**
 * Return the action that a normalised login path names, if Java frameworks also run it under
 * other paths. Tomcat's FormAuthenticator runs the form login for any path in the web app
 * that ends with `/j_security_check`, and Jetty's for any path with that segment followed by
 * its end, `;`, `/` or `?`. Struts 2 maps `/x/y/login.action` to the longest namespace that
 * the app configures above it, and falls back to the default namespace, so an action in
 * `/auth` runs at `/auth/x/login.action`, and one at the root at any `.../login.action`.
 */
export function containerAction(normalizedPath: string, suffixMatch = false): ContainerAction | undefined {
  // Spring Security before 4.0 runs its login filter for any path that ends with the
  // configured URL, and CherryPy's session_auth tool for any path that ends with the text
  // `do_login` (`/xdo_login` too). A route sets suffix_match for these.
  if (suffixMatch && normalizedPath !== '/') return { reach: 'suffix', directory: '', name: normalizedPath.slice(1) };
  const slash = normalizedPath.lastIndexOf('/');
  const segment = normalizedPath.slice(slash + 1);
  if (FORM_LOGIN_ACTIONS.has(segment)) return { reach: 'anywhere', directory: '', name: segment };
  if (segment.length > STRUTS_EXTENSION.length && segment.endsWith(STRUTS_EXTENSION)) {
    return { reach: 'below', directory: normalizedPath.slice(0, slash), name: segment.slice(0, -STRUTS_EXTENSION.length) };
  }
  return undefined;
}

/** Return whether a normalised request path reaches a container action (see containerAction). */
export function reachesContainerAction(action: ContainerAction, normalizedPath: string): boolean {
  if (action.reach === 'suffix') return normalizedPath.endsWith(action.name);
  if (action.reach === 'anywhere') {
    const segment = `/${action.name}`;
    return normalizedPath.endsWith(segment) || normalizedPath.includes(`${segment}/`);
  }
  if (!normalizedPath.startsWith(`${action.directory}/`)) return false;
  return strutsActionName(normalizedPath.slice(normalizedPath.lastIndexOf('/') + 1)) === action.name;
}

/**
 * Return the action name that Struts 2 reads from a last segment. Its default extensions,
 * `action` and none, map both `login.action` and `login` to action `login`, and dynamic
 * method invocation reads `login!input.action` as action `login`.
 */
function strutsActionName(segment: string): string {
  const bang = segment.indexOf('!');
  const name = bang === -1 ? segment : segment.slice(0, bang);
  return name.endsWith(STRUTS_EXTENSION) ? name.slice(0, -STRUTS_EXTENSION.length) : name;
}

/**
 * Paths at which web servers run a file other than by its full name. A login route names
 * the file the app runs, and a request that runs it by another path is a login all the same.
 */

/**
 * Stems of the file names that servers run for a request to their directory: Apache's
 * DirectoryIndex and PHP's built-in server run `index.php`, and IIS runs its default
 * document, `default.aspx` among others.
 */
const DIRECTORY_INDEX_STEMS: ReadonlySet<string> = new Set(['index', 'default']);

/**
 * Return whether a normalised path segment names a directory index file: `index`, `default`,
 * or either with an extension (`index.php`, `default.aspx`).
 */
export function isDirectoryIndexName(segment: string): boolean {
  const dot = segment.indexOf('.');
  return DIRECTORY_INDEX_STEMS.has(dot === -1 ? segment : segment.slice(0, dot));
}

/**
 * Return the other paths at which servers run the file that a normalised login path names,
 * without the path itself. The first is the path with its last segment cut before its first
 * dot (`/wp-login` for `/wp-login.php`): nginx's `try_files $uri $uri/ $uri.php` runs
 * wp-login.php for /wp-login, ASP.NET FriendlyUrls serves Login.aspx at /Login, and Apache's
 * MultiViews serves any `login.*` for /login. The second, for an index file (see
 * isDirectoryIndexName), is its directory (`/login` for `/login/index.php`).
 */
export function loginPathAliases(normalizedPath: string): LoginPathAlias[] {
  const slash = normalizedPath.lastIndexOf('/');
  const segment = normalizedPath.slice(slash + 1);
  const aliases: LoginPathAlias[] = [];

  // A segment that starts with a dot (`.env`) has no stem to serve it by.
  const dot = segment.indexOf('.');
  if (dot > 0) aliases.push({ path: normalizedPath.slice(0, slash + 1 + dot), directory: false });
  if (isDirectoryIndexName(segment)) aliases.push({ path: slash === 0 ? '/' : normalizedPath.slice(0, slash), directory: true });
  // With URL rewriting on, the front controller's routes are served in its directory too.
  const script = scriptPathInfo(normalizedPath);
  if (script) {
    aliases.push({ path: `${script.directory}${script.pathInfo}`, directory: false });
    for (const stem of script.stems) aliases.push({ path: `${script.directory}/${stem}${script.pathInfo}`, directory: false });
  }
  return aliases;
}

/**
 * A path that reaches a login file. `directory` marks the directory of an index file: the
 * paths below it are the directory's other files, not the login's, so a route's `subpaths`
 * setting never reaches them.
 */
export interface LoginPathAlias {
  path: string;
  directory: boolean;
}

/**
 * A script segment's extension followed by more path: PHP, CGI and FastCGI, WSGI and
 * Python, Perl, the ISAPI and ASP.NET handlers, ColdFusion (ColdBox, FW/1 and CFWheels
 * route `/index.cfm/login` by PATH_INFO) and Lua. Their servers run the script with the
 * rest of the path as PATH_INFO.
 */
const SCRIPT_EXTENSIONS = '(?:php\\d?|phtml|phar|cgi|fcgi|wsgi|py|pl|dll|exe|asp|aspx|ashx|cfm|cfml|cfc|lua)';
/**
 * A script segment with more path after it, or the segment `faces` with more path: JSF maps
 * its FacesServlet to `/faces/*`, so `/faces/login.xhtml` runs the view /login.xhtml.
 */
const SCRIPT_WITH_PATH_INFO = new RegExp(`\\.${SCRIPT_EXTENSIONS}/|/faces/`);
const SCRIPT_NAME = new RegExp(`^[\\w-]{1,32}\\.${SCRIPT_EXTENSIONS}$`);

/** Return whether a lower-case path segment names a script that servers run with PATH_INFO (`app.php`). */
export function isScriptName(segment: string): boolean {
  return SCRIPT_NAME.test(segment);
}

/**
 * Split a normalised path at its first script segment: `/portal/index.php/login` gives the
 * directory `/portal` and the PATH_INFO `/login`. A `faces` segment is split at the same way
 * (`/app/faces/login.xhtml` gives `/app` and `/login.xhtml`), with no stems. Returns undefined when the path has no
 * script segment with more path after it. `stems` are the directory names the script also
 * runs for. Apache's MultiViews serves `/account/login` with `account.php` (or any
 * `account.*`) and the PATH_INFO `/login`, as does a rewrite such as `^account/(.*)$
 * account.php/$1`. So the script segment without its extension names the same handler.
 */
export function scriptPathInfo(normalizedPath: string): { directory: string; pathInfo: string; stems: string[] } | undefined {
  const script = SCRIPT_WITH_PATH_INFO.exec(normalizedPath);
  if (script === null) return undefined;
  const pathInfoStart = script.index + script[0].length - 1;
  const segmentStart = normalizedPath.lastIndexOf('/', script.index);
  const name = normalizedPath.slice(segmentStart + 1, script.index);
  // MultiViews matches a file by the name before its first dot, a rewrite by the whole stem.
  const firstDot = name.indexOf('.');
  const stems = [name, ...(firstDot > 0 ? [name.slice(0, firstDot)] : [])].filter((stem) => stem !== '' && !stem.startsWith('.'));
  return {
    directory: normalizedPath.slice(0, segmentStart),
    pathInfo: normalizedPath.slice(pathInfoStart),
    stems,
  };
}

/**
 * Path normalisation for login-route matching. Apps and frameworks differ in how they read a
 * path (case, trailing slash, percent-encoding, dot segments, matrix parameters, format
 * suffixes), so riskgate matches on the loosest common reading: a request that any of them
 * would route to a login path is judged as a login. A path whose reading is ambiguous is
 * rejected rather than guessed.
 */
export type PathReading = { path: string } | { invalid: string };

/**
 * Normalise the path part of a request target: decode, drop matrix parameters, resolve dot
 * segments, lower-case, trim `/`.
 */
export function normalizePath(target: string): PathReading {
  const end = target.search(/[?#]/);
  const raw = end === -1 ? target : target.slice(0, end);

  if (!raw.startsWith('/')) {
    return { invalid: 'the request target must be a path starting with /' };
  }

  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { invalid: 'the path has invalid percent-encoding' };
  }

  if (/[\u0000-\u001f\u007f\\]/.test(decoded)) {
    return { invalid: 'the path contains a control character or a backslash' };
  }
  if (/%[0-9a-fA-F]{2}/.test(decoded)) {
    return { invalid: 'the path is percent-encoded twice' };
  }

  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    // Servlet containers drop matrix parameters (`/login;jsessionid=x`) before they resolve
    // dot segments, so `/x/..;/login` reaches /login there and must be read that way here.
    const name = segment.split(';')[0];
    if (name === '' || name === '.') continue;
    if (name === '..') {
      segments.pop();
      continue;
    }
    // Upper-casing before lower-casing folds `ı` and `ſ` into `i` and `s`, as Java's
    // equalsIgnoreCase, which compares characters the same way, matches them.
    segments.push(name.toUpperCase().toLowerCase());
  }

  return { path: `/${segments.join('/')}` };
}

/**
 * List the readings of a normalised path that a route may match: the path itself, then the
 * path without each format suffix of its last segment, longest first. Rails routes
 * `/login.json` to `/login` with format `json`, and Spring MVC's suffix pattern matching
 * (on by default before Spring Framework 5.3) routes `/login.anything` there too.
 */
export function routeCandidates(path: string): string[] {
  const candidates = [path];
  const lastSlash = path.lastIndexOf('/');
  const segment = path.slice(lastSlash + 1);
  for (let dot = segment.lastIndexOf('.'); dot > 0; dot = segment.lastIndexOf('.', dot - 1)) {
    candidates.push(path.slice(0, lastSlash + 1 + dot));
  }
  return candidates;
}

/**
 * Path normalisation for login-route matching. Apps and frameworks differ in how they read a
 * path (case, trailing slash, percent-encoding, dot segments), so riskgate matches on the
 * loosest common reading: a request that any of them would route to a login path is judged
 * as a login. A path whose reading is ambiguous is rejected rather than guessed.
 */
export type PathReading = { path: string } | { invalid: string };

/** Normalise the path part of a request target: decode, resolve dot segments, lower-case, trim `/`. */
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
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      segments.pop();
      continue;
    }
    // Matrix parameters (`/login;jsessionid=x`) are dropped by servlet containers.
    const withoutParameters = segment.split(';')[0];
    segments.push(withoutParameters.toLowerCase());
  }

  return { path: `/${segments.join('/')}` };
}

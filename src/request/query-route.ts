/**
 * Request paths that some PHP frameworks take from the query string instead of the path.
 * CodeIgniter 3 and 4 read `/?/login` and `/index.php?/login&x=1` as /login: with no path
 * after the script, a query that starts with `/` is the path, up to its first `&`. Drupal 7
 * routes every request by its `q` parameter, so `/anything?q=user/login` is /user/login.
 */
export function queryRoutedTargets(url: string, normalizedPath: string): string[] {
  const start = url.indexOf('?');
  if (start === -1) return [];
  const query = url.slice(start + 1);
  const targets: string[] = [];

  const atScript = normalizedPath === '/' || /^(?:\/[^/]+)*\/[^/]+\.php$/.test(normalizedPath);
  if (atScript && query.startsWith('/')) {
    const end = query.indexOf('&');
    targets.push(end === -1 ? query : query.slice(0, end));
  }

  let parameters: URLSearchParams;
  try {
    parameters = new URLSearchParams(query);
  } catch {
    return targets;
  }
  for (const value of parameters.getAll('q')) {
    // The value is decoded once already, so it goes on as a path with its escapes re-applied.
    targets.push(`/${encodeURI(value.replace(/^\/+/, ''))}`);
  }
  return targets;
}

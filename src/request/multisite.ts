/**
 * WordPress multisite in subdirectory mode. Its `.htaccess` rewrites
 * `^([_0-9a-zA-Z-]+/)?(.*\.php)$` to `$2`, and the nginx rules that WordPress documents rewrite
 * `^(/[^/]+)?(/.*\.php)` to `$2`, so `/site2/wp-login.php` runs `/wp-login.php`.
 */

/** A first segment that the nginx rule reads as a site's name: any, and Apache's rule reads a subset. */
const SITE_SEGMENT = /^\/[^/]+(?=\/)/;

/** Return whether a normalised login path names a PHP script, which the rewrites run below a site's name. */
export function isSiteScript(normalizedPath: string): boolean {
  return normalizedPath.endsWith('.php');
}

/** Return a normalised path without its first segment, which the rewrites read as a site's name, or undefined for one segment. */
export function withoutSite(normalizedPath: string): string | undefined {
  const site = SITE_SEGMENT.exec(normalizedPath);
  return site === null ? undefined : normalizedPath.slice(site[0].length);
}

/**
 * Locale segments in front of a path. Django's i18n_patterns serves `/de/accounts/login/`
 * with the view of /accounts/login/, and a Rails `scope "(:locale)"` does the same, so a
 * login route is reached under any language's prefix.
 */

/**
 * A lower-case language tag as such apps write it in a path: a two- or three-letter language,
 * then a script or a region (`zh-hans`, `pt-br`, `en_gb`), then a region. A numeric region
 * (`es-419`) is read as an API version first (see normalizePath), so it is not one here.
 */
const LOCALE_SEGMENT = /^\/[a-z]{2,3}(?:[-_](?:[a-z]{4}|[a-z]{2}))?(?:[-_][a-z]{2})?(?=\/)/;

/** Return a normalised path without its first segment when that segment is a language tag, or undefined. */
export function withoutLocale(normalizedPath: string): string | undefined {
  const locale = LOCALE_SEGMENT.exec(normalizedPath);
  return locale === null ? undefined : normalizedPath.slice(locale[0].length);
}

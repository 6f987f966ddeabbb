/**
 * Locale segments in front of a path. Django's i18n_patterns and a Rails `scope "(:locale)"`
 * serve `/de/accounts/login/` with the view of /accounts/login/, so a login route is reached
 * under any language's prefix.
 */

/**
 * A lower-case language tag as such apps write it in a path: a two- or three-letter language,
 * then a script or a region (`zh-hans`, `pt-br`, `en_gb`), then a region. A region is two
 * letters or, as a UN M.49 area, three digits (`es-419`, `en-001`, `zh-hant-419`). BCP 47
 * allows both, and Django's language prefix pattern reads both.
 */
const LOCALE_TAG = '[a-z]{2,3}(?:[-_](?:[a-z]{4}|[a-z]{2}|[0-9]{3}))?(?:[-_](?:[a-z]{2}|[0-9]{3}))?';
const LOCALE_SEGMENT = new RegExp(`^/${LOCALE_TAG}(?=/)`);
const WHOLE_LOCALE_TAG = new RegExp(`^${LOCALE_TAG}$`);

/** Return a normalised path without its first segment when that segment is a language tag, or undefined. */
export function withoutLocale(normalizedPath: string): string | undefined {
  const locale = LOCALE_SEGMENT.exec(normalizedPath);
  return locale === null ? undefined : normalizedPath.slice(locale[0].length);
}

/**
 * Return whether a lower-case segment is a language tag with a numeric region (`es-419`),
 * which also has the shape of an API version (see apiVersion in path.ts).
 */
export function isNumericRegionLocale(segment: string): boolean {
  return /[0-9]$/.test(segment) && WHOLE_LOCALE_TAG.test(segment);
}

/**
 * How a username read from a login body becomes the account key that counters and
 * profiles are grouped by. The default folds the variants that most apps treat as one
 * account; apps with case-sensitive usernames set `case: preserve`, and apps that compare
 * usernames with accents set `accents: preserve`.
 */
export interface UsernameNormalization {
  /** `fold` lower-cases with full Unicode case folding; `preserve` keeps case. */
  case: 'fold' | 'preserve';
  /** Remove leading and trailing white space (including tabs and Unicode spaces). */
  trim: boolean;
  /** Apply Unicode NFKC, so that full-width and compatibility forms match ASCII. */
  nfkc: boolean;
  /**
   * `fold` removes combining accents, so `alîce` is `alice`, as accent-insensitive database
   * collations compare them (MySQL 8's default utf8mb4_0900_ai_ci); `preserve` keeps them.
   */
  accents: 'fold' | 'preserve';
}

export const DEFAULT_USERNAME_NORMALIZATION: UsernameNormalization = Object.freeze({
  case: 'fold',
  trim: true,
  nfkc: true,
  accents: 'fold',
});

/**
 * Normalise a username as the options say. The whole name is kept: counter keys and
 * pseudonyms are fixed-length digests of it, and the body limit bounds its length, so two
 * long names that differ only at the end stay two accounts. Log lines cut it on their own.
 */
export function normalizeUsername(
  raw: string,
  options: UsernameNormalization = DEFAULT_USERNAME_NORMALIZATION,
): string {
  let name = raw;

  if (options.nfkc) {
    name = name.normalize('NFKC');
  }

  // Soft hyphens, zero-width characters, control characters and the like carry no weight in
  // Unicode collation (MySQL 8's default among them), so `vic\u00adtim` finds `victim` there.
  name = name.replace(COLLATION_IGNORABLE, '');

  if (options.case === 'fold') {
    // toLowerCase then toUpperCase then toLowerCase approximates full case folding
    // (for example U+1E9E and "ß" meet at "ss" only through the upper-case form).
    name = name.toLowerCase().toUpperCase().toLowerCase();
  }

  if (options.accents === 'fold') {
    // NFD separates each accent from its letter as a nonspacing diacritic mark, in Latin,
    // Greek, Cyrillic, Arabic, Hebrew or Thai alike. Vowel signs, such as most Indic ones,
    // are parts of letters rather than diacritics, so they stay.
    // NOTE: letters that Unicode does not decompose (ø, ł, đ) keep their form, whatever the
    // app's collation makes of them. Some Indic signs, such as the virama, count as
    // diacritics and go too, so names that differ only by one share an account's counters.
    name = name.normalize('NFD').replace(NONSPACING_DIACRITICS, '').normalize('NFC');
  }

  // Last, so that white space an earlier step uncovered is trimmed too.
  if (options.trim) {
    name = name.trim();
  }

  return name;
}

/**
 * Default ignorable code points and control characters. White space among the controls
 * (tab, line feed) at either end is gone by the time `trim` would remove it.
 */
const COLLATION_IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}]/gu;

/**
 * Nonspacing marks with the Unicode Diacritic property. Written as a RegExp string because
 * set intersection needs the `v` flag, which Node 20 supports and TypeScript's ES2022 target
 * does not check.
 */
const NONSPACING_DIACRITICS = new RegExp('[\\p{Mn}&&\\p{Diacritic}]', 'gv');

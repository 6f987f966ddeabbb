import validator from 'validator';

import { COLLATION_GROUPS } from './collation-groups.js';

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
  /**
   * `refuse` rejects a username with markup that some apps remove before they look the
   * account up (see usernameMarkup); `keep` reads it as written.
   */
  markup: 'refuse' | 'keep';
  /**
   * `remove` (the default) deletes the characters that Unicode collation gives no weight
   * (soft hyphens, zero-width characters, fillers), as database collations ignore them.
   * `keep` keeps them, for an app that compares names byte for byte. A login with another
   * control character than white space is rejected before its name is normalised.
   */
  ignorables?: 'remove' | 'keep';
  /**
   * `any` (the default) also merges the letters that only some apps merge: MySQL's
   * `general_ci` collations read `ı` as `i` through its upper case, and WordPress reads `þ`
   * as `th`. `uca` merges only what the Unicode Collation Algorithm does (MySQL 8's
   * `utf8mb4_0900_ai_ci`, MariaDB's `uca1400` collations, ICU), where `alıce` is not `alice`.
   */
  collation?: 'any' | 'uca';
  /**
   * Letters the app reads as others before it looks an account up, in any case, such as
   * WordPress in a German locale reading `ä` as `ae`. They are replaced first, in NFC.
   */
  letters?: Readonly<Record<string, string>>;
  /**
   * `host` makes one name another account on each host the app is reached at, for apps that
   * serve many tenants (see accountOf). `global`, the default, makes it one account.
   */
  scope?: 'global' | 'host';
  /**
   * An e-mail canonicaliser the app runs before its lookup: `validator` for validator.js's
   * normalizeEmail with its defaults (express-validator's too), which drops dots and `+tag`
   * from Gmail addresses, or `php_filter` for PHP's FILTER_SANITIZE_EMAIL, which removes
   * every character an address may not contain. Absent, addresses are read as names.
   */
  email?: 'validator' | 'php_filter';
  /**
   * With `scope: host`, the host names the app serves tenants at: `shop.example.com`, or
   * `*.example.com` for any one label before `example.com`. Logins at other hosts are refused.
   */
  hosts?: readonly string[];
  /**
   * With `scope: host`, the header the app reads the tenant's host from: `host` (the
   * default), or `x-forwarded-host`, a trusted proxy's, for an app behind a proxy that
   * rewrites Host. riskgate sends the app that host in X-Forwarded-Host too.
   */
  hostHeader?: 'host' | 'x-forwarded-host';
}

export const DEFAULT_USERNAME_NORMALIZATION: UsernameNormalization = Object.freeze({
  case: 'fold',
  trim: true,
  nfkc: true,
  accents: 'fold',
  markup: 'refuse',
});

/**
 * Normalise a username as the options say. The whole name is kept: counter keys and
 * pseudonyms are fixed-length digests of it, and the body limit bounds its length, so two
 * long names that differ only at the end stay two accounts. Log lines cut it on their own.
 *
 * The `account` reading merges every spelling that some app reads as one account, so no
 * spelling escapes the account's counters. The `exact` reading is for checks where merging
 * too much would let one account pass as another, such as an assertion's subject (see
 * exactReading). The `text` reading folds as `account` does, without the merge of `s` runs
 * that only account names need, for other text such as paths.
 */
export function normalizeUsername(
  raw: string,
  options: UsernameNormalization = DEFAULT_USERNAME_NORMALIZATION,
  reading: 'account' | 'exact' | 'text' = 'account',
): string {
  if (reading === 'exact') return exactReading(raw, options);

  // PHP's filter runs on what the client sent, before the database compares the rest.
  let name = capMarkRuns(options.email === 'php_filter' ? raw.replace(PHP_EMAIL_REMOVED, '') : raw);

  const letters = lettersPattern(options.letters);
  if (letters) name = name.normalize('NFC').replace(letters.pattern, (letter) => letters.replacement(letter));

  // WordPress's letters are read before NFKC, which would turn ŀ into l· and ŉ into ʼn.
  const account = options.collation !== 'uca';
  if (options.accents === 'fold' && account) name = name.replace(WORDPRESS_LETTER, (letter) => WORDPRESS_LETTERS[letter]);
  if (options.accents === 'fold') name = name.replace(account ? OLDER_UCA_LETTER : UCA_LETTER, (letter) => OLDER_UCA_LETTERS[letter]);

  if (options.nfkc) {
    // A mark that NFKC turns into a letter (U+0345 becomes ι) is one the collation ignores,
    // so marks go first when accents are folded. So do the spacing forms of marks that NFKC
    // turns into a space and a mark (U+FE70) and the collation ignores.
    if (options.accents === 'fold') name = withoutIgnoredSpacingForms(foldAccents(name));
    name = name.normalize('NFKC');
  }

  // WordPress reads tab, line feed, vertical tab, form feed and carriage return as white
  // space (PCRE's \s), so these become spaces before the other control characters go.
  if (options.trim) name = name.replace(WHITE_SPACE_CONTROLS, ' ');

  // Soft hyphens, zero-width characters, control characters and the like carry no weight in
  // Unicode collation (MySQL 8's default among them), so `vic\u00adtim` finds `victim` there.
  if (options.ignorables !== 'keep') name = name.replace(COLLATION_IGNORABLE, '');

  if (options.case === 'fold') {
    // toLowerCase then toUpperCase then toLowerCase approximates full case folding
    // (for example U+1E9E and "ß" meet at "ss" only through the upper-case form). It also
    // makes the dotless ı an i, which collations keep apart, so the exact reading skips it.
    name = account ? name.toLowerCase().toUpperCase().toLowerCase() : name.toLowerCase();
  }

  // NFKC and case folding turn some characters into WordPress's letters (`ᵑ` into `ŋ`, `Ɑ`
  // into `ɑ`, `￡` into `£`), so those letters are read once more.
  if (options.accents === 'fold' && account) name = name.replace(WORDPRESS_LETTER, (letter) => WORDPRESS_LETTERS[letter]);

  if (options.accents === 'fold') {
    // NFD separates each accent from its letter as a combining mark. The marks removed are
    // those a collation at base strength ignores, in any script; vowel signs and viramas,
    // which are parts of letters, stay.
    name = foldAccents(name);
  }

  if (options.accents === 'fold' && options.case === 'fold') {
    // Letters that Unicode does not decompose (ø, ł, đ, 🅐) and characters the collation
    // ignores (the Arabic tatweel) are read as the collation reads them too.
    name = foldToBaseLetters(name);
    // MySQL's utf8mb4_general_ci and utf8mb4_unicode_ci give every character outside the
    // Basic Multilingual Plane the one weight 0xFFFD, so `kenji😀` is `kenji𠮷` there. SQL
    // Server ignores characters its older collations do not define, so `alice😼` is alice.
    // Removing them covers both. A name with one that reads as letters got 400 before (see
    // supplementaryLetter). Later UCA collations keep them apart, as `uca` does.
    if (account) name = name.replace(SUPPLEMENTARY, '');
    // MySQL's general_ci collations (and WordPress) read `ß` as `s`, Unicode collations
    // read it as `ss`, so `jeßica` is jesica in one app and jessica in another. Only a
    // reading that makes a run of `s` one `s` puts every such spelling in one account.
    if (account && reading === 'account') name = name.replace(S_RUN, 's');
  }

  // Last, so that white space an earlier step uncovered is trimmed too. WordPress reads a
  // run of white space inside a name as one space.
  if (options.trim) {
    name = name.trim().replace(/ {2,}/g, ' ');
  }

  return canonicalEmail(name, options);
}

/** Return the address as validator's normalizeEmail writes it with `email: validator`, else the name unchanged. */
function canonicalEmail(name: string, options: UsernameNormalization): string {
  // normalizeEmail does not check that its input is an address ("bob" becomes "@bob"), so
  // names without an @ after their first character, which apps check first, stay as they are.
  if (options.email !== 'validator' || name.indexOf('@') <= 0) return name;
  return validator.normalizeEmail(name) || name;
}

/**
 * Normalise a name with only the merges nearly every app makes: ASCII white space trimmed
 * from the ends, and with `case: fold` the upper-case letters whose lower case maps back
 * to them, plus the app's own `letters` and `email` rules. Everything else stays: SQL
 * Server's default collation, PostgreSQL and exact comparisons keep `alíce`, `ａlice`,
 * `ali\u200bce`, `alice\u3000` and the Kelvin sign's `\u212aate` apart from their ASCII
 * look-alikes, and they keep a composed `á` apart from `a` with a combining accent.
 */
function exactReading(raw: string, options: UsernameNormalization): string {
  let name = capMarkRuns(options.email === 'php_filter' ? raw.replace(PHP_EMAIL_REMOVED, '') : raw);

  const letters = lettersPattern(options.letters);
  if (letters) name = name.replace(letters.pattern, (letter) => letters.replacement(letter));
  // PHP's trim() and most frameworks trim these; Unicode spaces such as U+3000 and the byte
  // order mark stay, since the app may keep `alice\u3000` as an account of its own.
  if (options.trim) name = name.replace(ASCII_WHITE_SPACE_ENDS, '');
  if (options.case === 'fold') name = name.replace(CASED_LETTER, simpleLowerCase);

  return canonicalEmail(name, options);
}

const ASCII_WHITE_SPACE_ENDS = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;

/** A letter with a lower-case form: upper case, title case, or another with a case mapping (Ⓐ). */
const CASED_LETTER = /[\p{Uppercase}\p{Lt}]/gu;

/**
 * Return the lower case of a letter when upper-casing it gives the letter back, else the
 * letter. The Kelvin sign lowers to `k` and the dotted `İ` to `i̇`, which apps that fold
 * case with their own tables keep apart from `k` and `i`.
 */
function simpleLowerCase(letter: string): string {
  const lower = letter.toLowerCase();
  return lower.toUpperCase() === letter ? lower : letter;
}

/** A code point that Unicode assigns no character, in the Unicode version of Node's ICU. */
const UNASSIGNED = /\p{Cn}/u;

/**
 * Return the first code point of the name that Unicode assigns no character, under
 * `collation: any` with case and accents folded, or undefined. SQL Server ignores such a
 * code point in comparisons, so `alice\u0378` is alice there, while ICU gives it a weight.
 */
export function unassignedCodePoint(raw: string, options: UsernameNormalization = DEFAULT_USERNAME_NORMALIZATION): string | undefined {
  if (options.collation === 'uca' || options.accents !== 'fold' || options.case !== 'fold') return undefined;
  return UNASSIGNED.exec(raw)?.[0];
}

/** Characters outside the Basic Multilingual Plane. */
const SUPPLEMENTARY = /[\u{10000}-\u{10FFFF}]/gu;

/**
 * Return a character outside the Basic Multilingual Plane that the account reading turns
 * into letters or digits (`🅐` and `𝐚` into `a`), with that reading, or undefined. No one
 * key fits such a name: ICU reads `🅐lice` as alice, and SQL Server ignores the character
 * and reads lice. Only `collation: any` with case and accents folded removes them.
 */
export function supplementaryLetter(
  raw: string,
  options: UsernameNormalization = DEFAULT_USERNAME_NORMALIZATION,
): { character: string; reading: string } | undefined {
  if (options.collation === 'uca' || options.accents !== 'fold' || options.case !== 'fold') return undefined;
  // Nearly every name is in the Basic Multilingual Plane, which has no surrogate pairs.
  if (!/[\ud800-\udbff]/.test(raw)) return undefined;

  for (const character of new Set(raw.match(SUPPLEMENTARY) ?? [])) {
    const reading = normalizeUsername(character, options);
    if (reading !== '') return { character, reading };
  }
  return undefined;
}

/** Characters that PHP's FILTER_SANITIZE_EMAIL removes: all but letters, digits and !#$%&'*+-=?^_`{|}~@.[] */
const PHP_EMAIL_REMOVED = /[^A-Za-z0-9!#$%&'*+\-=?^_`{|}~@.[\]]/g;

/**
 * Return the markup in a username that WordPress's sanitize_user removes before it looks the
 * account up, or undefined. That is a `<` or `>` (tags go, so `ad<b>min` is `admin`), a `%`
 * escape (`ad%41min` is `admin`), or an entity-like run from `&` to `;`. Each spelling would
 * otherwise count as another account, with counters and history of its own.
 */
export function usernameMarkup(raw: string): string | undefined {
  const tagOrEscape = /[<>]|%[0-9a-f]{2}/i.exec(raw)?.[0];
  if (tagOrEscape !== undefined) return tagOrEscape;

  // Found with indexes, not a pattern, whose backtracking costs quadratic time on a run of `&`.
  const ampersand = raw.indexOf('&');
  const semicolon = raw.lastIndexOf(';');
  return ampersand !== -1 && semicolon > ampersand + 1 ? raw.slice(ampersand, Math.min(semicolon + 1, ampersand + 16)) : undefined;
}

/**
 * Maximum run of combining marks that text may have. Normalisation puts each run in
 * canonical order, and in V8 that costs time quadratic in the run's length: 8,000 marks
 * took 38 ms here and 32,600 took 0.65 s. Unicode's Stream-Safe Text Format (UAX #15)
 * allows 30 marks in a row.
 */
export const MAX_MARK_RUN = 30;

/**
 * Each whole run of combining marks. A pattern such as `\p{M}{31,}` would try again at each
 * mark of a shorter run, which costs time quadratic in the run's length: 38 ms for 64 KiB of
 * runs of 30. A greedy run is matched once and skipped.
 */
const MARK_RUN = /\p{M}+/gu;

/** Return the length, in marks, of the first run of more than MAX_MARK_RUN combining marks, or undefined. */
export function longMarkRun(text: string): number | undefined {
  MARK_RUN.lastIndex = 0;
  for (let match = MARK_RUN.exec(text); match; match = MARK_RUN.exec(text)) {
    // A mark beyond the BMP takes two code units, so only a long run is counted by code point.
    if (match[0].length > MAX_MARK_RUN && [...match[0]].length > MAX_MARK_RUN) return [...match[0]].length;
  }
  return undefined;
}

/** Cut each run of combining marks to MAX_MARK_RUN, so that normalising the text costs linear time. */
function capMarkRuns(text: string): string {
  if (longMarkRun(text) === undefined) return text;
  return text.replace(MARK_RUN, (run) => (run.length > MAX_MARK_RUN ? [...run].slice(0, MAX_MARK_RUN).join('') : run));
}

/** Length past which a username may not grow to more than twice its length under NFKC. */
export const MAX_EXPANDED_USERNAME = 1024;

/**
 * Return the NFKC length of a username that NFKC expands past `MAX_EXPANDED_USERNAME`
 * characters and to more than twice its own length, or undefined for any other name. One
 * character can become 18 (U+FDFA), so a small body would otherwise cost the later steps,
 * which run per character, many times its size. Names this short are not checked.
 */
export function excessiveExpansion(raw: string, options: UsernameNormalization): number | undefined {
  if (!options.nfkc || raw.length * 18 <= MAX_EXPANDED_USERNAME) return undefined;
  const length = capMarkRuns(raw).normalize('NFKC').length;
  return length > MAX_EXPANDED_USERNAME && length > 2 * raw.length ? length : undefined;
}

/**
 * Characters that WordPress's remove_accents reads as ASCII, in its default locale, where ICU's
 * root collation keeps a character of its own. WordPress looks a login up by the result, so
 * `joŋ` checks the password of `jon` there, and `jo£n` too, since it removes the pound sign.
 * It maps only the capital schwa and the turned e, so the small schwa `ə` stays a letter of
 * its own. Its `ß` is `s` where collations read `ss`, which no one reading can match, so `ß`
 * keeps the collation's reading.
 */
const WORDPRESS_LETTERS: Readonly<Record<string, string>> = {
  'Þ': 'TH', 'þ': 'th', 'ĸ': 'k', 'Ŀ': 'L', 'ŀ': 'l', 'ŉ': 'n', 'Ŋ': 'N', 'ŋ': 'n', 'Ŧ': 'T', 'ŧ': 't', 'ɑ': 'a',
  'Ə': 'E', 'ǝ': 'e', '€': 'E', '£': '',
};

/**
 * Characters that MariaDB's UCA collations weigh differently from the rest of this reading,
 * found by comparing WEIGHT_STRING over the Basic Multilingual Plane in MariaDB 10.11. Every
 * UCA collation and ICU read `ŀ` and `Ŀ` as `l`, where NFKC makes `l·`. The older
 * `utf8mb4_unicode_ci` (UCA 4.0.0) and `utf8mb4_unicode_520_ci` ignore the Arabic rub el
 * hizb and a Myanmar tone sign, and read the Bengali currency numerators as 1 to 4. Only
 * `collation: any` reads those older ones.
 */
const OLDER_UCA_LETTERS: Readonly<Record<string, string>> = {
  '\u013f': 'l', '\u0140': 'l',
  '\u06de': '', '\u108d': '', '\u09f4': '1', '\u09f5': '2', '\u09f6': '3', '\u09f7': '4',
};
const UCA_LETTER = /[\u013f\u0140]/g;
const OLDER_UCA_LETTER = new RegExp(`[${Object.keys(OLDER_UCA_LETTERS).join('')}]`, 'g');

const WORDPRESS_LETTER = new RegExp(`[${Object.keys(WORDPRESS_LETTERS).join('')}]`, 'g');

const letterPatterns = new WeakMap<object, { pattern: RegExp; replacement: (letter: string) => string }>();

/** Return one pattern for an app's letter map, longest letters first, built once per map. */
function lettersPattern(map: Readonly<Record<string, string>> | undefined) {
  if (map === undefined || Object.keys(map).length === 0) return undefined;
  const cached = letterPatterns.get(map);
  if (cached) return cached;

  const folded = new Map(Object.entries(map).map(([letter, value]) => [letter.normalize('NFC').toLowerCase(), value]));
  const alternatives = [...folded.keys()].sort((a, b) => b.length - a.length).map((letter) => letter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const built = {
    pattern: new RegExp(alternatives.join('|'), 'giu'),
    replacement: (letter: string) => folded.get(letter.toLowerCase()) ?? letter,
  };
  letterPatterns.set(map, built);
  return built;
}

/** Control characters that PCRE's `\s` matches: tab, line feed, vertical tab, form feed, carriage return. */
const WHITE_SPACE_CONTROLS = /[\t\n\v\f\r]/g;

const S_RUN = /s{2,}/g;

/**
 * Default ignorable code points and control characters. White space among the controls
 * (tab, line feed) at either end is gone by the time `trim` would remove it.
 */
const COLLATION_IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}]/gu;

function foldAccents(name: string): string {
  return name.normalize('NFD').replace(IGNORED_MARKS, '').normalize('NFC');
}

/**
 * Combining marks that ICU's root collation ignores at base strength, as accent-insensitive
 * database collations do: about 1,100 of them, found once at start-up by comparing `a`
 * followed by each mark with `a` alone (about 15 ms).
 */
const IGNORED_MARKS = ignoredMarks();

function ignoredMarks(): RegExp {
  const collator = new Intl.Collator('und', { sensitivity: 'base' });
  const mark = /\p{M}/u;
  let members = '';
  // Marks beyond U+1FFFF are variation selectors, which COLLATION_IGNORABLE already removes.
  for (let codePoint = 0x300; codePoint <= 0x1ffff; codePoint += 1) {
    const character = String.fromCodePoint(codePoint);
    if (mark.test(character) && collator.compare(`a${character}`, 'a') === 0) {
      members += `\\u{${codePoint.toString(16)}}`;
    }
  }
  return new RegExp(`[${members}]`, 'gu');
}

/**
 * Each non-ASCII character as ICU's root collation reads it at base strength: `''` when it
 * is ignored, the ASCII letters or digits it equals (`ø` is `o`, `æ` is `ae`,
 * `٣` is `3`, `⓫` is `11`), the letter that stands for its group in COLLATION_GROUPS (`ם`
 * is `מ`), or the character itself. Filled on first sight of each character, because
 * a scan of all 1.1 million code points at start-up would take seconds (about 3.5 µs each).
 * Only characters read as something else are kept in the map, and one bit per code point
 * (139 KB for all of Unicode) records that a character was looked up. So each character
 * costs its lookup once per process, whatever names an attacker sends.
 */
const baseLetters = new Map<number, string>();
const lookedUp = new Uint8Array(0x110000 >> 3);
let lookups = 0;

/** Count the collator lookups made so far, so tests can tell that each character costs one. */
export function baseLetterLookups(): number {
  return lookups;
}

let baseCollator: { collator: Intl.Collator; symbols: string[] } | undefined;

function foldToBaseLetters(name: string): string {
  if (/^[\x00-\x7f]*$/.test(name)) return name;

  let folded = '';
  for (const character of name) {
    const codePoint = character.codePointAt(0)!;
    if (codePoint < 0x80) {
      folded += character;
      continue;
    }
    folded += baseLetterOf(character);
  }
  return folded;
}

/** Return what one non-ASCII character reads as at base strength (see baseLetters), looked up once per process. */
function baseLetterOf(character: string): string {
  const codePoint = character.codePointAt(0)!;
  const bit = 1 << (codePoint & 7);
  if (lookedUp[codePoint >> 3] & bit) return baseLetters.get(codePoint) ?? character;

  const letters = readAtBaseStrength(character);
  lookups += 1;
  lookedUp[codePoint >> 3] |= bit;
  if (letters !== character) baseLetters.set(codePoint, letters);
  return letters;
}

/**
 * Maximum length of the run of ASCII letters and digits a character is looked up as. ICU
 * reads `⓫` as `11` and `₧` as `pts`, and its longest such reading in Node 20 is 🆩, `lossless`.
 */
const MAX_BASE_LETTERS = 8;

/** The run that sorts after every other run of letters and digits that readAtBaseStrength looks for. */
const LAST_RUN = 'z'.repeat(MAX_BASE_LETTERS + 1);

/**
 * Look one character up with a few collator comparisons: ignorable, then the letters and
 * digits it equals, one place at a time. At base strength the collation orders runs of ASCII
 * letters and digits as words in a dictionary, digits first, so at each place the last
 * symbol that does not sort after the character is the one its expansion has there.
 */
function readAtBaseStrength(character: string): string {
  if (!baseCollator) {
    const collator = new Intl.Collator('und', { sensitivity: 'base' });
    const symbols = [...'0123456789abcdefghijklmnopqrstuvwxyz'].sort(collator.compare);
    baseCollator = { collator, symbols };
  }
  const { collator, symbols } = baseCollator;

  if (collator.compare(character, '') === 0) return '';

  // Most scripts sort after every run of Latin letters, and need no search.
  if (collator.compare(character, LAST_RUN) > 0) return COLLATION_GROUPS.get(character) ?? character;

  let prefix = '';
  for (let place = 0; place < MAX_BASE_LETTERS; place += 1) {
    const next = lastNotAfter(collator, symbols, prefix, character);
    if (next === undefined) break;
    prefix += next;
    if (collator.compare(character, prefix) === 0) return prefix;
  }
  // Letters equal to other non-ASCII ones (Hebrew final letters, katakana and small kana)
  // read as one of them.
  return COLLATION_GROUPS.get(character) ?? character;
}

/**
 * Return the last symbol of a collator-sorted list that, after `prefix`, does not sort after
 * `character`, or undefined when even the first does.
 */
function lastNotAfter(collator: Intl.Collator, sorted: readonly string[], prefix: string, character: string): string | undefined {
  let low = 0;
  let high = sorted.length - 1;
  let found: string | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (collator.compare(prefix + sorted[middle], character) <= 0) {
      found = sorted[middle];
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

/**
 * Characters that NFKC turns into a space and a combining mark, such as the isolated forms
 * of Arabic vowel signs (U+FE70), which the collation may ignore whole. Found on first use,
 * from the Basic Multilingual Plane (about 15 ms), where all of them are.
 */
let spacingForms: RegExp | undefined;

/** Remove the spacing forms of marks that the collation ignores at base strength. */
function withoutIgnoredSpacingForms(name: string): string {
  if (/^[\x00-\x7f]*$/.test(name)) return name;
  spacingForms ??= findSpacingForms();
  return name.replace(spacingForms, (character) => (baseLetterOf(character) === '' ? '' : character));
}

/** Build a pattern of the characters whose NFKC form is a space followed by more. */
function findSpacingForms(): RegExp {
  let members = '';
  for (let codePoint = 0xa0; codePoint <= 0xffff; codePoint += 1) {
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue;
    const form = String.fromCharCode(codePoint).normalize('NFKC');
    if (form.length > 1 && form[0] === ' ') members += `\\u${codePoint.toString(16).padStart(4, '0')}`;
  }
  return new RegExp(`[${members}]`, 'g');
}


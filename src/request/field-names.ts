/**
 * Field names that common parsers read as another name. riskgate reads the username from
 * the field whose name equals the configured one, ignoring case. An app whose parser maps
 * another spelling onto that name (`[username]` in qs, ` username` in PHP) would read a
 * username that riskgate never saw, so callers reject such spellings.
 */

/**
 * The path of names under which one parser stores the value of a form field, outermost
 * first, such as `['user', 'email']` for `user[email]`. The reader stops after `limit`
 * names. An empty path means that the parser drops the field.
 */
type FieldNameReader = (name: string, limit: number) => string[];

/** White space at either end of a name, as .NET's Char.IsWhiteSpace reads it (no U+FEFF). */
const DOTNET_EDGE_SPACE = /^[\t-\r\u0085\p{Zs}\u2028\u2029]+|[\t-\r\u0085\p{Zs}\u2028\u2029]+$/gu;

const FORM_READERS: readonly { parser: string; read: FieldNameReader }[] = [
  { parser: 'a case-insensitive binder', read: (name) => [name] },
  { parser: "qs (Express's extended parser)", read: (name, limit) => readQsPath(name, limit) },
  { parser: 'qs with allowDots', read: (name, limit) => readQsPath(dotsToBrackets(name), limit) },
  { parser: 'Rack 2', read: readRack2Path },
  { parser: 'PHP', read: readPhpPath },
  // Spring MVC's data binder takes `!name` as the default of `name` when `name` is absent.
  { parser: "Spring's data binder", read: (name) => [name.startsWith('!') ? name.slice(1) : name] },
  // ASP.NET (System.Web) trims white space around a field's name, as .NET's String.Trim
  // does, so U+0085 (NEXT LINE) goes too, which JavaScript's trim keeps.
  // NOTE: HttpValueCollection's form parser was not seen trimming names, so this reading may
  // be wider than ASP.NET's. A wider reading only rejects or counts more logins.
  { parser: 'ASP.NET', read: (name) => [name.replace(DOTNET_EDGE_SPACE, '')] },
];

/**
 * Fold case for comparing field names. Lower-casing and then upper-casing also equates
 * `ſ` (U+017F) with `s` and `ı` (U+0131) with `i`. Go's encoding/json matches `ſ` to `s`
 * when it binds JSON keys to struct fields without regard to case (src/encoding/json/fold.go).
 * Java's equalsIgnoreCase compares one character at a time, where `İ` (U+0130) lower-cases
 * to `i`, while JavaScript lower-cases it to `i` and a combining dot, so it is mapped first.
 */
export function foldFieldName(name: string): string {
  // For ASCII text, upper case alone is the same fold.
  return ASCII.test(name) ? name.toUpperCase() : name.replace(/\u0130/g, 'i').toLowerCase().toUpperCase();
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Fold a JSON key for comparing it with a field name as the loosest common binder does.
 * fastjson 1.x, by default, also ignores `_` and `-` when it matches a key to a Java
 * property, so `user_name`, `USER-NAME` and `_username` all fill `username` there.
 */
export function foldJsonKey(name: string): string {
  return foldFieldName(name.replace(/[_-]/g, ''));
}

/**
 * Tell whether some common binder fills the field `field` from the JSON key `key`: by
 * foldJsonKey, or as fastjson also does, after an `is` at the key's start.
 */
export function jsonKeyReadsAs(key: string, field: string): boolean {
  const folded = foldJsonKey(field);
  return foldJsonKey(key) === folded || (key.startsWith('is') && foldJsonKey(key.slice(2)) === folded);
}

/**
 * Return the parser that reads the form field `name` as `field`, or as a value nested under
 * it, although `name` is not `field` in another letter case. Returns undefined when no
 * parser does. `name` must be percent-decoded already.
 */
export function formParserReadingAs(name: string, field: string): string | undefined {
  if (name.toLowerCase() === field.toLowerCase()) return undefined;

  const reading = fieldReading(field);
  if (!mayRead(name, reading)) return undefined;

  // Every parser reads a name without brackets, dots, spaces, `!` or NUL as itself.
  if (!SPECIAL_IN_NAME.test(name)) {
    const folded = foldFieldName(name);
    const match = reading.readers.find(({ fieldPath }) => fieldPath.length === 1 && fieldPath[0] === folded);
    return match?.parser;
  }

  for (const { parser, read, fieldPath } of reading.readers) {
    if (fieldPath.length === 0) continue;
    const path = read(name, fieldPath.length);
    if (fieldPath.every((segment, index) => path[index] !== undefined && foldFieldName(path[index]) === segment)) return parser;
  }
  return undefined;
}

/**
 * Tell whether some parser in formParserReadingAs may read the decoded form field `name` as
 * `field` or under it, by a check much cheaper than the readers. False is certain.
 */
export function formParserMayRead(name: string, field: string): boolean {
  return mayRead(name, fieldReading(field)) && name.toLowerCase() !== field.toLowerCase();
}

/**
 * Tell whether some parser may read `name` as the field. Each parser's first name starts
 * once the spaces, brackets, dots and `!` that some parsers drop from the start are gone,
 * and it ends at a character that some parser cuts at. So the field's first word must start
 * that text, followed by such a character or nothing. The parsers never add letters, so
 * the name must also contain every word of the field.
 */
function mayRead(name: string, reading: FieldReading): boolean {
  const [first] = reading.words;
  if (first !== '') {
    let start = 0;
    while (start < name.length && DROPPED_AT_START.test(name[start])) start += 1;
    // Folding never shortens text, so the start of the name decides this.
    const head = foldFieldName(name.slice(start, start + first.length + 1));
    if (!head.startsWith(first)) return false;
    const next = head[first.length];
    if (next !== undefined && !SPECIAL_IN_NAME.test(next) && next !== '_') return false;
  }
  const folded = foldFieldName(name);
  return reading.words.every((word) => folded.includes(word));
}

/**
 * Characters that some parser drops from the start of a name (qs with allowDots reads `.a`
 * as `[a]`, and ASP.NET trims white space).
 */
const DROPPED_AT_START = /[[\]!.\t-\r\u0085\p{Zs}\u2028\u2029]/u;

/** Characters that some parser in FORM_READERS cuts, drops or rewrites in a name. */
const SPECIAL_IN_NAME = /[[\].!\0\t-\r\u0085\p{Zs}\u2028\u2029]/u;

/** A field name's words and its folded path under each parser, worked out once per field. */
interface FieldReading {
  words: string[];
  readers: { parser: string; read: FieldNameReader; fieldPath: string[] }[];
}

/** Field readings by field name. The fields are configured names and a few fixed ones, so the map stays small. */
const fieldReadings = new Map<string, FieldReading>();

function fieldReading(field: string): FieldReading {
  let reading = fieldReadings.get(field);
  if (reading === undefined) {
    reading = {
      words: foldFieldName(field).split(/[_ .[\]!]+/),
      readers: FORM_READERS.map(({ parser, read }) => ({ parser, read, fieldPath: read(field, Infinity).map(foldFieldName) })),
    };
    if (fieldReadings.size < 1000) fieldReadings.set(field, reading);
  }
  return reading;
}

/**
 * Read a name as qs 6.16 does. A name that starts with `[` takes its first name from the
 * first bracket group, so `[username]` is `username`. Text between or after groups is
 * dropped, so `[username]]` and `[username]x` are `username` too. An unclosed group stays
 * one literal name. Older qs 6 releases match groups without nested brackets instead,
 * which gives the same first name whenever that name is the username field.
 */
function readQsPath(name: string, limit: number): string[] {
  const first = name.indexOf('[');
  if (first === -1) return [name];

  const path = first > 0 ? [name.slice(0, first)] : [];
  let open = first;
  while (open !== -1 && path.length < limit) {
    const close = matchingBracket(name, open);
    if (close === -1) {
      path.push(name.slice(open));
      break;
    }
    path.push(name.slice(open + 1, close));
    open = name.indexOf('[', close + 1);
  }
  return path;
}

/** Index of the `]` that closes the `[` at `open`, counting nested pairs, or -1. */
function matchingBracket(name: string, open: number): number {
  let depth = 0;
  for (let index = open; index < name.length; index += 1) {
    if (name[index] === '[') depth += 1;
    if (name[index] === ']') depth -= 1;
    if (depth === 0) return index;
  }
  return -1;
}

/**
 * Rewrite dot notation as qs's `allowDots` option does: `a.b` becomes `a[b]`, but only
 * outside brackets, and a dot followed by another dot or a `[` stays.
 */
function dotsToBrackets(name: string): string {
  let result = '';
  let depth = 0;
  for (let index = 0; index < name.length; index += 1) {
    const character = name[index];
    if (character === '[') depth += 1;
    if (character === ']' && depth > 0) depth -= 1;

    const next = name[index + 1];
    if (character === '.' && depth === 0 && next !== undefined && next !== '.' && next !== '[') {
      let end = index + 1;
      while (end < name.length && name[end] !== '.' && name[end] !== '[') end += 1;
      result += `[${name.slice(index + 1, end)}]`;
      index = end - 1;
    } else {
      result += character;
    }
  }
  return result;
}

/**
 * Read a name as Rack 2 (`Rack::QueryParser#normalize_params`) does. Each level takes the
 * first run of characters that are not brackets, after any leading brackets, and drops the
 * `]` characters after it. So `[username]`, `]username`, `username]` and `[]username` are
 * all `username`. Rack splits fields on `&` followed by any spaces, so leading spaces go too.
 * Rack 3 no longer strips leading brackets, so its readings are a subset of these.
 */
function readRack2Path(name: string, limit: number): string[] {
  const path: string[] = [];
  let rest = name.replace(/^ +/, '');
  while (path.length < limit) {
    const match = /^[[\]]*([^[\]]+)\]*/.exec(rest);
    if (!match) break;

    const after = rest.slice(match[0].length);
    if (after === '[') {
      // Rack keeps a name that ends in one unclosed `[` whole.
      path.push(rest);
      break;
    }
    path.push(match[1]);
    if (after === '') break;

    if (after.startsWith('[]')) {
      path.push('');
      rest = after.slice(2);
    } else {
      rest = after;
    }
  }
  return path;
}

/** Return the top-level variable name PHP 8 registers a form field `name` under (`user[pass` is `user_pass`). */
export function phpVariableName(name: string): string {
  return readPhpPath(name, 1)[0] ?? '';
}

/**
 * Read a name as PHP 8 does when it fills `$_POST` and `$_GET` (`php_register_variable_ex`).
 * PHP cuts the name at a NUL byte, skips leading spaces, and turns ` ` and `.` before the
 * first `[` into `_`. A first `[` that no `]` closes also becomes `_`, together with every
 * ` `, `.` and `[` after it. Otherwise each `[...]` names one level, and PHP stops at the
 * first level that is not followed directly by another `[`.
 */
function readPhpPath(name: string, limit: number): string[] {
  const nul = name.indexOf('\0');
  const text = (nul === -1 ? name : name.slice(0, nul)).replace(/^ +/, '');
  const open = text.indexOf('[');
  const base = (open === -1 ? text : text.slice(0, open)).replace(/[ .]/g, '_');
  if (base === '') return [];
  if (open === -1) return [base];
  if (!text.includes(']', open + 1)) return [`${base}_${text.slice(open + 1).replace(/[ .[]/g, '_')}`];

  const path = [base];
  let index = open;
  while (text[index] === '[' && path.length < limit) {
    // PHP skips one white space character before looking for `]` or an empty index.
    const search = /\s/.test(text[index + 1] ?? '') ? index + 2 : index + 1;
    const close = text.indexOf(']', search);
    // A deeper `[` that no `]` closes ends the path.
    if (close === -1) break;
    path.push(text[search] === ']' ? '' : text.slice(index + 1, close));
    index = close + 1;
  }
  return path;
}

/**
 * Return the names an app may read for a cookie name as sent. PHP releases before the fix
 * for CVE-2020-7070 decoded cookie names byte by byte, `+` as a space, and cut them at NUL
 * as any variable name, so `password%00%FF` was `password` there. Node reads header bytes
 * as Latin-1, and apps read a name's bytes, raw or decoded, as UTF-8 or as Latin-1, so each
 * reading is returned in both.
 */
export function cookieNameReadings(name: string): string[] {
  const text = name.trim();
  // Most names are plain ASCII with nothing to decode, and read one way only.
  if (/^[\x21-\x7e]*$/.test(text) && !/[%+]/.test(text)) return [text];

  const written = Buffer.from(text, 'latin1');
  const decoded = Buffer.from(
    text.replaceAll('+', ' ').replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  );
  const nul = decoded.indexOf(0);
  const cut = nul === -1 ? decoded : decoded.subarray(0, nul);
  return [...new Set([written.toString('latin1'), written.toString('utf8'), cut.toString('latin1'), cut.toString('utf8')])];
}

/**
 * Split a field name into the keys of its JSON path: `session[email]` and `session.email`
 * are both `session`, then `email`.
 */
export function jsonFieldPath(field: string): string[] {
  const bracketed = /^([^[\]]+)((?:\[[^[\]]+\])+)$/.exec(field);
  if (bracketed) return [bracketed[1], ...bracketed[2].slice(1, -1).split('][')];
  return field.split('.');
}

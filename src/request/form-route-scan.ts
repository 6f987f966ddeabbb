import {
  MAX_KEY,
  MAX_MULTIPART_PARTS,
  MAX_PART_HEADERS,
  MAX_ROUTE_VALUE,
  RouteList,
  RouteNameReader,
  WatchedFields,
  type BodyRoute,
  type BodyRouteScan,
  type FormRouteScanner,
} from './form-routes.js';
import { PhpMultipartRouteScanner } from './php-multipart-scan.js';

export type { BodyRoute, BodyRouteScan, FormRouteScanner };
export { WatchedFields };

/**
 * Maximum number of fields read in a URL-encoded body, empty ones included. PHP registers
 * 1,000 by default (max_input_vars), and even sites that raise it stay far below this.
 */
const MAX_FIELDS = 100_000;

/**
 * Read the routing parameters (`rest_route`, `r`) that a form body carries, a chunk at a
 * time, so that a body of any size is read in bounded memory. WordPress and Yii 1.1 route by
 * them from a POST body as from the query. Returns undefined for a body that is not a form.
 */
export function createFormRouteScanner(contentType: string | undefined, watched?: WatchedFields): FormRouteScanner | undefined {
  if (contentType === undefined) return undefined;
  const type = contentType.toLowerCase();
  // A type that names both (`multipart/form-data; x=application/x-www-form-urlencoded`) is
  // read both ways, because PHP picks the type by its start and other parsers search it.
  const names = new RouteNameReader(watched);
  const scanners: FormRouteScanner[] = [];
  // PHP splits a POST body at `&`, or at each character of arg_separator.input (`;&` on some hosts).
  if (type.includes('application/x-www-form-urlencoded')) {
    scanners.push(new UrlEncodedRouteScanner('&', names), new UrlEncodedRouteScanner('&;', names));
  }
  if (type.includes('multipart/')) {
    // PHP's own reading decides what WordPress and Yii see. The looser line-start reading,
    // under both readings of the boundary, stays as a second check. PHP takes an empty
    // boundary too (`boundary=`): each part then starts at a line that begins with `--`.
    const php = phpBoundary(contentType);
    const boundaries = new Set([php, parameterBoundary(contentType)]);
    for (const boundary of boundaries) {
      if (boundary !== undefined && boundary !== '') scanners.push(new MultipartRouteScanner(boundary, names));
    }
    if (php !== undefined) scanners.push(new PhpMultipartRouteScanner(php, names));
  }
  return scanners.length === 0 ? undefined : new ScannerSet(scanners, names);
}

/**
 * Maximum length of a multipart boundary. RFC 2046 allows 70 characters, and clients send 20
 * to 70. Each chunk of a body costs a scan time of the boundary's length, so a 15 KB one sent
 * a byte at a time would cost seconds.
 */
const MAX_BOUNDARY = 200;

/** Return why a form body's multipart boundary cannot be scanned, or undefined when it can. */
export function boundaryProblem(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !contentType.toLowerCase().includes('multipart/')) return undefined;
  const longest = Math.max(phpBoundary(contentType)?.length ?? 0, parameterBoundary(contentType)?.length ?? 0);
  if (longest <= MAX_BOUNDARY) return undefined;
  return `the multipart boundary has ${longest} characters, more than riskgate reads (${MAX_BOUNDARY}; RFC 2046 allows 70); send a shorter one`;
}

/**
 * Read the boundary as PHP's rfc1867.c does: after the first `boundary` (in that case if it
 * is there, else in any case) comes the first `=`, then a quoted value, or the text up to
 * `,` or `;`, spaces included.
 */
function phpBoundary(contentType: string): string | undefined {
  let start = contentType.indexOf('boundary');
  if (start === -1) start = contentType.toLowerCase().indexOf('boundary');
  const equals = start === -1 ? -1 : contentType.indexOf('=', start);
  if (equals === -1) return undefined;
  const rest = contentType.slice(equals + 1);
  if (rest.startsWith('"')) {
    const end = rest.indexOf('"', 1);
    return end === -1 ? undefined : rest.slice(1, end);
  }
  const end = rest.search(/[,;]/);
  return end === -1 ? rest : rest.slice(0, end);
}

/** Read the boundary as a media type parameter, as most other parsers do. */
function parameterBoundary(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** Scan one body in each of several readings, and report what any of them finds. */
class ScannerSet implements FormRouteScanner {
  constructor(
    private readonly scanners: FormRouteScanner[],
    private readonly names: RouteNameReader,
  ) {}

  /** The first problem any reading has found: the others stop too, since the body is refused. */
  get problem(): string | undefined {
    return this.names.problem ?? this.scanners.find((scanner) => scanner.problem !== undefined)?.problem;
  }

  write(chunk: Buffer): void {
    if (this.problem !== undefined) return;
    for (const scanner of this.scanners) scanner.write(chunk);
  }

  finish(): BodyRouteScan {
    const routes = new RouteList();
    for (const scanner of this.scanners) {
      const scan = scanner.finish();
      if (this.names.problem !== undefined) return { problem: this.names.problem };
      if ('problem' in scan) return scan;
      for (const route of scan.routes) routes.add(route);
    }
    if (routes.problem) return { problem: routes.problem };
    return { routes: routes.list, ...(this.names.watchedSeen === undefined ? {} : { watched: this.names.watchedSeen }) };
  }
}

/**
 * Scan an `application/x-www-form-urlencoded` body, split into fields at each of the
 * `separators`. The spaces that start a name are dropped as they stream, as PHP drops them,
 * so a name of any length is read in MAX_KEY characters.
 */
class UrlEncodedRouteScanner implements FormRouteScanner {
  private key = '';
  private value = '';
  private inValue = false;
  private route: string | undefined;
  problem: string | undefined;
  private readonly routes = new RouteList();
  private fields = 0;
  // Names repeat, so each distinct raw name is decoded once.
  private readonly readNames = new Map<string, string | undefined>();

  constructor(
    private readonly separators: '&' | '&;',
    private readonly names: RouteNameReader,
  ) {}

  write(chunk: Buffer): void {
    if (this.problem) return;
    const text = chunk.toString('latin1');
    // The next of each separator is found once, so a chunk costs one pass however many fields it has.
    let ampersand = text.indexOf('&');
    let semicolon = this.separators === '&' ? -1 : text.indexOf(';');
    let start = 0;
    while (ampersand !== -1 || semicolon !== -1) {
      let end = Math.min(ampersand, semicolon);
      if (ampersand === -1 || semicolon === -1) end = Math.max(ampersand, semicolon);
      this.add(text.slice(start, end));
      this.endField();
      start = end + 1;
      if (end === ampersand) ampersand = text.indexOf('&', start);
      if (end === semicolon) semicolon = text.indexOf(';', start);
    }
    this.add(text.slice(start));
  }

  finish(): BodyRouteScan {
    this.endField();
    const problem = this.problem ?? this.routes.problem;
    return problem ? { problem } : { routes: this.routes.list };
  }

  private routeOf(rawKey: string): string | undefined {
    if (this.readNames.has(rawKey)) return this.readNames.get(rawKey);
    const route = this.names.read(decodeFormText(rawKey));
    if (this.readNames.size < 1000) this.readNames.set(rawKey, route);
    return route;
  }

  private add(part: string): void {
    if (!this.inValue) {
      // Most names cannot read as a routing name, whose first character after any spaces is
      // r, R, ſ (0xC5 as its first UTF-8 byte), or a character some parser drops or decodes.
      if (this.key === '' && part !== '' && !MAY_START_ROUTE_NAME.test(part) && !this.names.watched?.starts.test(part)) {
        this.inValue = true;
        this.route = undefined;
        return;
      }
      const equals = part.indexOf('=');
      this.key = trimKeyStart(this.key + (equals === -1 ? part : part.slice(0, equals))).slice(0, MAX_KEY + 2);
      if (equals === -1) return;
      this.inValue = true;
      this.route = this.routeOf(this.key);
      part = part.slice(equals + 1);
    }
    if (this.route === undefined) return;
    this.value += part;
    if (this.value.length > MAX_ROUTE_VALUE) {
      this.problem = `the form field ${this.route} is over ${MAX_ROUTE_VALUE} bytes`;
    }
  }

  private endField(): void {
    this.fields += 1;
    if (this.fields > MAX_FIELDS) {
      this.problem ??= `the form body has more than ${MAX_FIELDS} fields`;
      return;
    }
    if (!this.inValue && this.key !== '') this.route = this.routeOf(this.key);
    if (this.route !== undefined && !this.problem) {
      this.routes.add({ name: this.route, value: decodeFormText(this.value) });
    }
    this.key = '';
    this.value = '';
    this.inValue = false;
    this.route = undefined;
  }
}

const MAY_START_ROUTE_NAME = /^[ +rR%[\]!.\xc5]/;

/**
 * Drop the spaces that start a raw field name, keeping one in their place, since PHP reads a
 * name after any number of them. A partial escape at the end stays for the next chunk.
 */
function trimKeyStart(raw: string): string {
  const lead = /^(?:[ +]|%20)+/i.exec(raw);
  return lead ? ` ${raw.slice(lead[0].length)}` : raw;
}

/** Decode a raw form name or value as PHP's urldecode does: `+` is a space and a bad escape stays as written. */
function decodeFormText(raw: string): string {
  if (/^[\x00-\x24\x26-\x2a\x2c-\x7f]*$/.test(raw)) return raw;
  // An ASCII name whose escapes are all UTF-8 decodes the same way as below, only faster.
  if (/^[\x00-\x7f]*$/.test(raw)) {
    try {
      return decodeURIComponent(raw.replaceAll('+', ' '));
    } catch {
      // A bad escape or one that is not UTF-8: decode byte by byte below.
    }
  }
  const bytes = Buffer.from(raw.replaceAll('+', ' ').replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16))), 'latin1');
  return bytes.toString('utf8');
}

type MultipartState = 'body' | 'boundary-line' | 'headers';

/**
 * Scan a `multipart/form-data` body. PHP finds each part at a line that starts with
 * `--boundary`, after CRLF or a bare LF, and reads the part's name from the `name`
 * parameter of its headers. Only the values of parts named as a routing parameter are kept.
 * The closing delimiter is read as any other, so a part after it is read too.
 */
class MultipartRouteScanner implements FormRouteScanner {
  private readonly delimiter: Buffer;
  // The first delimiter may open the body, with no line break before it, so the scan starts with one.
  private pending: Buffer = Buffer.from('\n');
  private state: MultipartState = 'body';
  private headers = '';
  private route: string | undefined;
  private value: Buffer[] = [];
  private valueLength = 0;
  private parts = 0;
  problem: string | undefined;
  private readonly routes = new RouteList();

  constructor(
    boundary: string,
    private readonly names: RouteNameReader,
  ) {
    this.delimiter = Buffer.from(`\n--${boundary}`, 'latin1');
  }

  write(chunk: Buffer): void {
    if (this.problem) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.scan();
  }

  finish(): BodyRouteScan {
    if (!this.problem && this.state === 'body') {
      this.keep(this.pending);
      this.endPart();
    }
    const problem = this.problem ?? this.routes.problem;
    return problem ? { problem } : { routes: this.routes.list };
  }

  private scan(): void {
    while (!this.problem) {
      if (this.state === 'body') {
        const found = this.pending.indexOf(this.delimiter);
        if (found === -1) {
          // Keep what could be the start of a delimiter split across chunks.
          const safe = Math.max(0, this.pending.length - this.delimiter.length + 1);
          this.keep(this.pending.subarray(0, safe));
          this.pending = this.pending.subarray(safe);
          return;
        }
        this.keep(this.pending.subarray(0, found));
        this.endPart();
        this.parts += 1;
        if (this.parts > MAX_MULTIPART_PARTS) {
          this.problem = `the multipart body has more than ${MAX_MULTIPART_PARTS} parts`;
          return;
        }
        this.pending = this.pending.subarray(found + this.delimiter.length);
        this.state = 'boundary-line';
      } else if (this.state === 'boundary-line') {
        const lineEnd = this.pending.indexOf(0x0a);
        if (lineEnd === -1) {
          if (this.pending.length > MAX_PART_HEADERS) this.problem = 'a multipart boundary line is over 16 KiB';
          return;
        }
        this.pending = this.pending.subarray(lineEnd + 1);
        this.headers = '';
        this.state = 'headers';
      } else if (this.state === 'headers') {
        const lineEnd = this.pending.indexOf(0x0a);
        if (lineEnd === -1) {
          if (this.headers.length + this.pending.length > MAX_PART_HEADERS) this.problem = 'a multipart part has over 16 KiB of headers';
          return;
        }
        const line = this.pending.subarray(0, lineEnd).toString('latin1').replace(/\r$/, '');
        this.pending = this.pending.subarray(lineEnd + 1);
        if (line !== '') {
          this.headers += `${line}\n`;
          if (this.headers.length > MAX_PART_HEADERS) this.problem = 'a multipart part has over 16 KiB of headers';
          continue;
        }
        const route = partRoute(this.headers, this.names);
        if (typeof route === 'object') {
          this.problem = route.problem;
          return;
        }
        this.route = route;
        this.state = 'body';
        this.value = [];
        this.valueLength = 0;
      }
    }
  }

  /** Keep part data while the part is a routing parameter. */
  private keep(data: Buffer): void {
    if (this.route === undefined || data.length === 0) return;
    this.valueLength += data.length;
    if (this.valueLength > MAX_ROUTE_VALUE) {
      this.problem = `the form field ${this.route} is over ${MAX_ROUTE_VALUE} bytes`;
      return;
    }
    this.value.push(data);
  }

  private endPart(): void {
    if (this.route !== undefined && !this.problem) {
      // The line break before the delimiter is CRLF or a bare LF.
      const value = Buffer.concat(this.value).toString('utf8').replace(/\r$/, '');
      this.routes.add({ name: this.route, value });
    }
    this.route = undefined;
    this.value = [];
  }
}

/**
 * Maximum number of `name` parameters read in one part's headers. A form part has one, and
 * each is checked against the routing names on its own.
 */
const MAX_PART_NAMES = 16;

/**
 * Return the routing parameter that a part's headers name, undefined when they name none,
 * or `{ problem }` past MAX_PART_NAMES. Every `name` parameter of every header line counts,
 * quoted with `"` or `'` or bare, so a part that one parser might read under a routing name
 * is never skipped.
 */
function partRoute(headers: string, names: RouteNameReader): string | { problem: string } | undefined {
  let count = 0;
  for (const match of headers.matchAll(/(?:^|[;\s:])name\s*=\s*(?:"([^"]*)"|'([^']*)'|([^;\s]*))/gim)) {
    count += 1;
    if (count > MAX_PART_NAMES) return { problem: `a multipart part has more than ${MAX_PART_NAMES} name parameters` };
    const route = names.read(match[1] ?? match[2] ?? match[3] ?? '');
    if (route) return route;
  }
  return undefined;
}

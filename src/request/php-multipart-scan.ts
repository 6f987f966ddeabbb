import {
  MAX_MULTIPART_LINES,
  MAX_MULTIPART_PARTS,
  MAX_PART_HEADERS,
  MAX_ROUTE_VALUE,
  RouteList,
  type RouteNameReader,
  type BodyRouteScan,
  type FormRouteScanner,
} from './form-routes.js';

/**
 * Size of PHP's multipart read buffer (FILLUNIT in main/rfc1867.c). A line with no line feed
 * within this many bytes is read as a line of its own, and the rest as the next one.
 */
const PHP_FILL_UNIT = 5 * 1024;

const EMPTY = Buffer.alloc(0);

type State = 'find' | 'headers' | 'body';

/**
 * Scan a `multipart/form-data` body as PHP's rfc1867.c reads it, which is how WordPress and
 * Yii 1.1 get the fields they route by:
 *
 * - A part starts after a line that is exactly `--boundary`. PHP skips every other line
 *   first, so a line such as `--boundaryX` or the closing `--boundary--` does not start one,
 *   and a part after the closing line is read too.
 * - Header lines end at LF, with one CR before it dropped. A line with no `:`, or one that
 *   starts with a space, is appended to the previous header's value as it is.
 * - The part's data ends before the first `\n--boundary`, whatever follows it.
 * - A line longer than the read buffer is read in pieces of its size.
 */
export class PhpMultipartRouteScanner implements FormRouteScanner {
  private readonly boundaryLine: Buffer;
  private readonly dataEnd: Buffer;
  private readonly pieceSize: number;
  private state: State = 'find';
  /** The current line, up to what the state needs of it, and its full length. */
  private line: Buffer[] = [];
  private lineLength = 0;
  private headers: [string, string][] = [];
  private headerBytes = 0;
  /** Data of the current part that may be the start of `\n--boundary`. */
  private tail: Buffer = EMPTY;
  private route: string | undefined;
  private value: Buffer[] = [];
  private valueLength = 0;
  /** Lines read outside part data, and parts started, each bounded. */
  private lines = 0;
  private parts = 0;
  problem: string | undefined;
  private readonly routes = new RouteList();

  constructor(
    boundary: string,
    private readonly names: RouteNameReader,
  ) {
    this.boundaryLine = Buffer.from(`--${boundary}`, 'latin1');
    this.dataEnd = Buffer.from(`\n--${boundary}`, 'latin1');
    this.pieceSize = Math.max(PHP_FILL_UNIT, Buffer.byteLength(boundary, 'latin1') + 6);
  }

  write(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.problem) {
      data = this.state === 'body' ? this.readData(data) : this.readLine(data);
    }
  }

  finish(): BodyRouteScan {
    // At the end of the body, PHP reads what is left of a part's data, up to the last byte.
    if (!this.problem && this.state === 'body') {
      this.keep(this.tail);
      this.endPart(false);
    }
    const problem = this.problem ?? this.routes.problem;
    return problem ? { problem } : { routes: this.routes.list };
  }

  /** Read up to the end of the current line, or of its piece, and return the data after it. */
  private readLine(data: Buffer): Buffer {
    const room = this.pieceSize - this.lineLength;
    const lineFeed = data.indexOf(0x0a);
    const byLineFeed = lineFeed !== -1 && lineFeed < room;
    if (!byLineFeed && data.length < room) {
      this.addToLine(data);
      return EMPTY;
    }

    const end = byLineFeed ? lineFeed : room;
    if (this.lineLength === 0) {
      // Most lines lie within one chunk and are read where they are.
      this.endLine(data.subarray(0, end), end, byLineFeed);
    } else {
      this.addToLine(data.subarray(0, end));
      const stored = Buffer.concat(this.line);
      const length = this.lineLength;
      this.line = [];
      this.lineLength = 0;
      this.endLine(stored, length, byLineFeed);
    }
    return data.subarray(byLineFeed ? end + 1 : end);
  }

  private addToLine(data: Buffer): void {
    this.lineLength += data.length;
    // Only an exact boundary line matters while looking for one, so longer lines are not kept.
    const keep = this.state === 'find' ? this.boundaryLine.length + 2 : MAX_PART_HEADERS;
    const stored = this.line.reduce((sum, part) => sum + part.length, 0);
    if (stored < keep) this.line.push(Buffer.from(data.subarray(0, keep - stored)));
  }

  /** Act on a whole line, or piece, of `length` bytes, of which `stored` is the start or all. */
  private endLine(stored: Buffer, length: number, byLineFeed: boolean): void {
    this.lines += 1;
    if (this.lines > MAX_MULTIPART_LINES) {
      this.problem = `the multipart body has more than ${MAX_MULTIPART_LINES} lines outside its part data`;
      return;
    }
    const line = cString(stored, length, byLineFeed);

    if (this.state === 'find') {
      if (line !== undefined && line.equals(this.boundaryLine)) {
        this.parts += 1;
        if (this.parts > MAX_MULTIPART_PARTS) {
          this.problem = `the multipart body has more than ${MAX_MULTIPART_PARTS} parts`;
          return;
        }
        this.state = 'headers';
        this.headers = [];
        this.headerBytes = 0;
      }
      return;
    }

    if (line !== undefined && line.length === 0) {
      const route = partRoute(this.headers, this.names);
      if (typeof route === 'object') {
        this.problem = route.problem;
        return;
      }
      this.route = route;
      this.state = 'body';
      this.value = [];
      this.valueLength = 0;
      return;
    }
    this.headerBytes += length;
    if (this.headerBytes > MAX_PART_HEADERS || line === undefined) {
      this.problem = 'a multipart part has over 16 KiB of headers';
      return;
    }
    this.addHeaderLine(line.toString('latin1'));
  }

  /** Add a header line as multipart_buffer_headers does. */
  private addHeaderLine(line: string): void {
    const colon = isCSpace(line[0]) ? -1 : line.indexOf(':');
    if (colon !== -1) {
      this.headers.push([line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t\n\v\f\r]+/, '')]);
    } else if (this.headers.length > 0) {
      this.headers[this.headers.length - 1][1] += line;
    }
  }

  /** Read part data up to `\n--boundary`, and return the data from its line feed on. */
  private readData(data: Buffer): Buffer {
    const text = this.tail.length === 0 ? data : Buffer.concat([this.tail, data]);
    const found = text.indexOf(this.dataEnd);
    if (found === -1) {
      const safe = Math.max(0, text.length - this.dataEnd.length + 1);
      this.keep(text.subarray(0, safe));
      this.tail = Buffer.from(text.subarray(safe));
      return EMPTY;
    }
    this.keep(text.subarray(0, found));
    this.endPart(true);
    this.tail = EMPTY;
    this.state = 'find';
    return text.subarray(found);
  }

  /** Keep part data while the part is a routing parameter. */
  private keep(data: Buffer): void {
    if (this.route === undefined || data.length === 0 || this.problem) return;
    this.valueLength += data.length;
    if (this.valueLength > MAX_ROUTE_VALUE) {
      this.problem = `the form field ${this.route} is over ${MAX_ROUTE_VALUE} bytes`;
      return;
    }
    this.value.push(Buffer.from(data));
  }

  private endPart(beforeBoundary: boolean): void {
    if (this.route !== undefined && !this.problem) {
      const value = Buffer.concat(this.value).toString('utf8');
      this.routes.add({ name: this.route, value: beforeBoundary ? value.replace(/\r$/, '') : value });
    }
    this.route = undefined;
    this.value = [];
  }
}

/**
 * Return the routing parameter that a part's first Content-Disposition header names,
 * undefined when it names none, or `{ problem }` past MAX_DISPOSITION_PARAMETERS.
 */
function partRoute(headers: readonly [string, string][], names: RouteNameReader): string | { problem: string } | undefined {
  const disposition = headers.find(([key]) => key.toLowerCase() === 'content-disposition');
  if (!disposition) return undefined;
  const name = dispositionName(disposition[1]);
  if (typeof name === 'object') return name;
  return name === undefined ? undefined : names.read(name);
}

/** Maximum number of parameters read in one Content-Disposition; a form part has two or three. */
const MAX_DISPOSITION_PARAMETERS = 16;

/**
 * Return the last `name` parameter of a Content-Disposition value, split into parameters at
 * `;` and each at its first `=`, outside quotes, as PHP's php_ap_getword does. The value is
 * walked once by position, so a header of many parameters costs its length.
 */
function dispositionName(value: string): string | { problem: string } | undefined {
  let position = skipCSpace(value, 0);
  let name: string | undefined;
  let parameters = 0;
  while (position < value.length) {
    parameters += 1;
    if (parameters > MAX_DISPOSITION_PARAMETERS) {
      return { problem: `a multipart part's Content-Disposition has more than ${MAX_DISPOSITION_PARAMETERS} parameters` };
    }
    const end = wordEnd(value, position, ';');
    const pair = value.slice(position, end);
    position = end;
    while (value[position] === ';') position += 1;
    position = skipCSpace(value, position);
    if (!pair.includes('=')) continue;

    const equals = wordEnd(pair, 0, '=');
    if (equals === pair.length || pair.slice(0, equals).toLowerCase() !== 'name') continue;
    let after = equals;
    while (pair[after] === '=') after += 1;
    name = getWordConf(pair.slice(after));
  }
  return name;
}

/**
 * Return the index of the first `stop` at or after `start` outside `"` or `'` quotes, in which
 * a backslash escapes the quote, or the text's length when there is none.
 */
function wordEnd(text: string, start: number, stop: string): number {
  let position = start;
  while (position < text.length && text[position] !== stop) {
    const quote = text[position];
    if (quote === '"' || quote === "'") {
      position += 1;
      while (position < text.length && text[position] !== quote) {
        position += text[position] === '\\' && text[position + 1] === quote ? 2 : 1;
      }
      if (position < text.length) position += 1;
    } else {
      position += 1;
    }
  }
  return Math.min(position, text.length);
}

/**
 * Read a parameter value as php_ap_getword_conf does: after leading spaces, a quoted value
 * runs to its closing quote, or to the end when there is none, and a bare value runs to the
 * next space. A backslash escapes a backslash, and in quotes the quote too.
 */
function getWordConf(text: string): string {
  const start = trimCSpace(text);
  const quote = start[0] === '"' || start[0] === "'" ? start[0] : undefined;
  let body = quote ? start.slice(1) : start;
  if (!quote) {
    const space = body.search(/[ \t\n\v\f\r]/);
    if (space !== -1) body = body.slice(0, space);
  }

  let word = '';
  for (let index = 0; index < body.length && body[index] !== quote; index += 1) {
    const next = body[index + 1];
    if (body[index] === '\\' && (next === '\\' || (quote !== undefined && next === quote))) {
      index += 1;
    }
    word += body[index];
  }
  return word;
}

/**
 * Return a line as the C string PHP reads: up to its first NUL, or without the CR before its
 * line feed. Returns undefined when only the start of a longer line was kept, with no NUL in it.
 */
function cString(stored: Buffer, length: number, byLineFeed: boolean): Buffer | undefined {
  const nul = stored.indexOf(0);
  if (nul !== -1) return stored.subarray(0, nul);
  if (stored.length < length) return undefined;
  return byLineFeed && stored.at(-1) === 0x0d ? stored.subarray(0, -1) : stored;
}

/** Return whether a character is a space to C's isspace in the C locale. */
function isCSpace(character: string | undefined): boolean {
  return character !== undefined && ' \t\n\v\f\r'.includes(character);
}

function trimCSpace(text: string): string {
  return text.slice(skipCSpace(text, 0));
}

function skipCSpace(text: string, start: number): number {
  let position = start;
  while (isCSpace(text[position])) position += 1;
  return position;
}

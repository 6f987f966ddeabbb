import { foldFieldName, phpVariableName } from './field-names.js';
import { bodyRouteParameter, mayBeBodyRouteParameter } from './query-route.js';

/** A routing parameter found in a form body: its name as the framework reads it, and its value. */
export interface BodyRoute {
  name: string;
  value: string;
}

/**
 * The result of scanning a whole form body: its routing fields and the first watched field
 * it sends (see WatchedFields), or why riskgate cannot read it as the app would.
 */
export type BodyRouteScan = { routes: BodyRoute[]; watched?: string } | { problem: string };

/**
 * Field names to look out for besides routing fields: the password fields of login routes
 * that the app checks on any page. A name matches as PHP reads it, with its leading spaces
 * dropped, cut at `[`, and spaces and dots read as `_`, in any case.
 */
export class WatchedFields {
  /** A first character that a name must have after any spaces to match. */
  readonly starts: RegExp;
  private readonly names: ReadonlySet<string>;

  constructor(names: readonly string[]) {
    this.names = new Set(names.map(phpFieldBase));
    const firsts = [...new Set(names.map((name) => name[0]!.toLowerCase() + name[0]!.toUpperCase()))].join('');
    this.starts = new RegExp(`^[${firsts.replace(/[\\\]^-]/g, '\\$&')}]`);
  }

  matches(name: string): boolean {
    return this.names.has(phpFieldBase(name)) || this.names.has(foldFieldName(phpVariableName(name)));
  }
}

/** Read a field name as PHP does for a password field's comparison, folded for case: cut at NUL, as PHP cuts it. */
function phpFieldBase(name: string): string {
  const nul = name.indexOf('\0');
  const trimmed = (nul === -1 ? name : name.slice(0, nul)).replace(/^[ \t\n\r\v\f]+/, '');
  const bracket = trimmed.indexOf('[');
  return foldFieldName((bracket === -1 ? trimmed : trimmed.slice(0, bracket)).replace(/[ .]/g, '_'));
}

/**
 * Maximum length of a routing value, as sent. A longer one is refused rather than cut, since a
 * cut changes its route. Routes are short paths, and each value is read as several paths.
 */
export const MAX_ROUTE_VALUE = 1024;

/** Maximum length of a form field name kept, after its leading spaces. Routing names are short. */
export const MAX_KEY = 1024;

/**
 * Maximum number of distinct routing fields in one body. Each is read as several paths, so a
 * body of many (`r&r&r...`) would cost time per field; no form sends more than a few.
 */
export const MAX_ROUTES = 20;

/** Maximum length of the header block of one multipart part. */
export const MAX_PART_HEADERS = 16 * 1024;

/**
 * Maximum number of parts in a multipart body. PHP reads at most max_multipart_body_parts,
 * by default max_input_vars plus max_file_uploads (1,020), and each part costs a scan time.
 */
export const MAX_MULTIPART_PARTS = 10_000;

/**
 * Maximum number of lines read outside part data in a multipart body: part headers, and the
 * lines before, between and after parts that hold no delimiter.
 */
export const MAX_MULTIPART_LINES = 100_000;

/**
 * Maximum number of field names in one body that riskgate reads under each parser's rules.
 * Only names that a quick check cannot rule out count, such as `r[x]` or `rest.route`. Each
 * costs a few microseconds, so 100,000 distinct ones would cost about a third of a second.
 */
export const MAX_NAME_READINGS = 10_000;

/** Names kept with their reading, so a name repeated in one body is read once. */
const MAX_CACHED_NAMES = 1000;

/**
 * Read a body's field names as routing parameters, shared by every scanner of the body, so
 * that all of them together read at most MAX_NAME_READINGS names in full.
 */
export class RouteNameReader {
  problem: string | undefined;
  /** The first field name that matched the watched fields, if any. */
  watchedSeen: string | undefined;
  private readings = 0;
  private readonly names = new Map<string, string | undefined>();

  constructor(readonly watched?: WatchedFields) {}

  /** Return the routing parameter that the decoded field name reads as, or undefined. */
  read(name: string): string | undefined {
    if (this.watched && this.watchedSeen === undefined && this.watched.matches(name)) this.watchedSeen = name.slice(0, 64);
    if (this.names.has(name)) return this.names.get(name);

    let route: string | undefined;
    if (mayBeBodyRouteParameter(name)) {
      this.readings += 1;
      if (this.readings > MAX_NAME_READINGS) {
        this.problem ??= `the form body has more than ${MAX_NAME_READINGS} field names that may read as rest_route or r`;
        return undefined;
      }
      route = bodyRouteParameter(name);
    }
    if (this.names.size < MAX_CACHED_NAMES) this.names.set(name, route);
    return route;
  }
}

export interface FormRouteScanner {
  write(chunk: Buffer): void;
  /** The reason the body cannot be read, once one is found; writes after it are ignored. */
  readonly problem: string | undefined;
  /** Called once the whole body has been written. */
  finish(): BodyRouteScan;
}

/** The distinct routing fields of a body, with a problem once there are more than MAX_ROUTES. */
export class RouteList {
  readonly list: BodyRoute[] = [];
  problem: string | undefined;
  private readonly seen = new Set<string>();

  add(route: BodyRoute): void {
    const key = `${route.name}\u0000${route.value}`;
    if (this.problem || this.seen.has(key)) return;
    if (this.seen.size >= MAX_ROUTES) {
      this.problem = `the form body has more than ${MAX_ROUTES} distinct rest_route or r fields`;
      return;
    }
    this.seen.add(key);
    this.list.push(route);
  }
}

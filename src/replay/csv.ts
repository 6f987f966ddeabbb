import type { LoginRoute } from '../config/types.js';
import { TrustedProxies, parseAddress, resolveClientAddress } from '../request/client-ip.js';
import { lookupGeo } from '../request/geo.js';
import { parseUserAgent } from '../request/user-agent.js';
import { HOST_SCOPE_HINT, normalizeAccountName } from '../request/account-name.js';
import type { UsernameNormalization } from '../request/username.js';
import { SIGNAL_SCHEMA, baselineSignals, type SignalValues } from '../signals/catalog.js';
import { isDecision, parseLabel, type LoginEvent, type LoginOutcome } from './event.js';

/** A CSV record with the line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * An RFC 4180 CSV reader fed in chunks: fields may be quoted, quotes inside are doubled,
 * and quoted fields may span lines. Records end at LF or CRLF.
 */
export class CsvParser {
  private field = '';
  private fields: string[] = [];
  private quoted = false;
  private afterQuote = false;
  private line = 1;
  private recordLine = 1;

  push(chunk: string): CsvRecord[] {
    const records: CsvRecord[] = [];
    for (let index = 0; index < chunk.length; index += 1) {
      const character = chunk[index];
      if (this.quoted) {
        if (character === '"') {
          this.quoted = false;
          this.afterQuote = true;
        } else {
          if (character === '\n') this.line += 1;
          this.field += character;
        }
      } else if (character === '"') {
        // A doubled quote inside a quoted field: the first closed it, this one reopens it.
        if (this.afterQuote) this.field += '"';
        this.quoted = true;
        this.afterQuote = false;
      } else if (character === ',') {
        this.fields.push(this.field);
        this.field = '';
        this.afterQuote = false;
      } else if (character === '\n') {
        this.fields.push(this.field.endsWith('\r') && !this.afterQuote ? this.field.slice(0, -1) : this.field);
        records.push({ fields: this.fields, line: this.recordLine });
        this.fields = [];
        this.field = '';
        this.afterQuote = false;
        this.line += 1;
        this.recordLine = this.line;
      } else if (character !== '\r' || !this.afterQuote) {
        this.field += character;
      }
    }
    return records;
  }

  /** Flush the last record when the input does not end with a line break. */
  end(): CsvRecord[] {
    if (this.field === '' && this.fields.length === 0) return [];
    this.fields.push(this.field);
    const record = { fields: this.fields, line: this.recordLine };
    this.fields = [];
    this.field = '';
    return [record];
  }
}

export interface CsvOptions {
  username: UsernameNormalization;
  /** Route id for rows without a `route` column: the config's first login route. */
  defaultRoute: string;
  challengeMode: 'step-up' | 'forward';
}

const NO_PROXIES = new TrustedProxies([]);
const SCHEMA = SIGNAL_SCHEMA as Record<string, Record<string, string>>;
const BASELINE = baselineSignals();
const REQUIRED = ['timestamp', 'ip'];

/** Columns of a CSV header, by lower-cased name; unknown names that look like signals are rejected. */
export function readCsvHeader(fields: string[]): { columns: Map<string, number>; error?: string } {
  const columns = new Map(fields.map((name, index) => [name.trim().toLowerCase(), index]));
  const missing = REQUIRED.filter((name) => !columns.has(name));
  if (missing.length > 0) {
    return { columns, error: `CSV header lacks the column(s) ${missing.join(', ')}; the header row must name timestamp and ip` };
  }
  for (const name of columns.keys()) {
    const [group, field] = name.split('.');
    if (field !== undefined && !SCHEMA[group]?.[field]) {
      return { columns, error: `CSV column "${name}" is not a signal; signal columns are named like ua.automation or geo.country` };
    }
  }
  return { columns };
}

/**
 * Build a replay event from one CSV row. Signals come from the ip, user_agent, username,
 * route, fingerprint and device columns, then any `group.field` signal column overrides
 * one; signals no column gives are those of an ordinary browser login.
 */
export function eventFromCsvRow(
  record: CsvRecord,
  columns: Map<string, number>,
  options: CsvOptions,
  origin: string,
): LoginEvent | { error: string } {
  const get = (name: string) => {
    const index = columns.get(name);
    return index === undefined ? '' : (record.fields[index] ?? '').trim();
  };

  const time = parseTimestamp(get('timestamp'));
  if (time === undefined) return { error: `invalid timestamp "${get('timestamp')}"; use ISO 8601 or Unix seconds or milliseconds` };
  const address = parseAddress(get('ip'));
  if (!address) return { error: `invalid ip "${get('ip')}"` };
  const outcome = get('outcome').toLowerCase() || 'unknown';
  if (outcome !== 'success' && outcome !== 'failure' && outcome !== 'unknown') {
    return { error: `invalid outcome "${get('outcome')}"; use success, failure or unknown` };
  }
  const decision = get('decision').toLowerCase() || 'allow';
  if (!isDecision(decision)) return { error: `invalid decision "${get('decision')}"; use allow, challenge or block` };

  const client = resolveClientAddress(address.toString(), undefined, NO_PROXIES);
  const rawName = get('username');
  const account = rawName === '' ? '' : normalizeAccountName(rawName, options.username);
  if (account === undefined) return { error: `username "${rawName.slice(0, 64)}" has no host: ${HOST_SCOPE_HINT}` };
  const username = account || undefined;
  const route = get('route') || options.defaultRoute;
  const fingerprint = get('fingerprint');
  const device = get('device');

  // Every group is filled, so that a rule reading a signal no column gives (account.*,
  // travel.*, ip.asn) reads the ordinary login's value instead of failing to evaluate.
  const signals: SignalValues = {
    ip: { ...BASELINE.ip, address: client.address, version: BigInt(client.version), key: client.key, private: client.private },
    geo: { ...lookupGeo(client.address, client.private) },
    ua: { ...parseUserAgent(columns.has('user_agent') ? get('user_agent') : undefined) },
    request: { ...BASELINE.request, route, fingerprint },
    user: { present: username !== undefined, length: BigInt(username?.length ?? 0) },
    device: { known: device !== '' },
    account: { ...BASELINE.account },
    travel: { ...BASELINE.travel },
  };
  const override = applySignalColumns(signals, columns, record);
  if (override) return { error: override };

  return {
    time,
    signals,
    parts: {
      ip: client.key,
      ip_prefix: client.prefix,
      username,
      device: device || undefined,
      fingerprint: fingerprint || undefined,
      route,
    },
    member: username,
    outcome: outcome as LoginOutcome,
    forwarded: decision === 'allow' || (decision === 'challenge' && options.challengeMode === 'forward'),
    stepUpOk: false,
    recorded: { decision },
    label: parseLabel(get('label')),
    origin,
  };
}

function applySignalColumns(signals: SignalValues, columns: Map<string, number>, record: CsvRecord): string | undefined {
  for (const [name, index] of columns) {
    const [group, field] = name.split('.');
    const type = field === undefined ? undefined : SCHEMA[group]?.[field];
    const text = (record.fields[index] ?? '').trim();
    if (!type || text === '') continue;
    if (type === 'string') signals[group][field] = text;
    else if (type === 'bool' && (text === 'true' || text === 'false')) signals[group][field] = text === 'true';
    else if (type === 'int' && /^-?\d+$/.test(text)) signals[group][field] = BigInt(text);
    else if (type === 'double' && Number.isFinite(Number(text))) signals[group][field] = Number(text);
    else return `column ${name} must be of type ${type}, got "${text}"`;
  }
  return undefined;
}

/** Parse ISO 8601 text, or a Unix time in seconds (below 10^11) or milliseconds. */
export function parseTimestamp(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const value = Number(text);
    return value < 1e11 ? Math.round(value * 1000) : Math.round(value);
  }
  const parsed = Date.parse(text);
  return Number.isFinite(parsed) ? parsed : undefined;
}

import type { Logger } from 'pino';

import type { ClientAddress } from '../request/client-ip.js';
import type { GeoSignals } from '../request/geo.js';
import type { Evaluation } from '../rules/evaluate.js';
import type { Decision } from '../rules/types.js';
import type { SignalValues } from '../signals/catalog.js';
import { isLogSafe, sanitizeLogValue } from './sanitize.js';

/** Everything one login contributes to its decision line. */
export interface LoginRecord {
  requestId: string;
  method: string;
  path: string;
  routeId: string;
  client: ClientAddress;
  geo: GeoSignals;
  userAgent: string;
  userAgentSignals: { browser: string; browser_version: string; os: string; device_type: string };
  /** Normalised username, or undefined when the body named none. */
  username?: string;
  pseudonym?: string;
  /** HMAC pseudonym of the device cookie's id, never the cookie itself. */
  devicePseudonym?: string;
  /** Clock reading the decision used (ms since the epoch), logged as event.start for replay. */
  startedAt?: number;
  signals: SignalValues;
  counters: Record<string, number>;
  evaluation: Evaluation;
  decision: Decision;
  /** The manual block or allow entry that decided the login, when one did. */
  manual?: { action: 'block' | 'allow'; id: string };
  ruleSetVersion: string;
  store: string;
  stepUp?: { ok: boolean; reason?: string };
  challengeId?: string;
  outcome: 'success' | 'failure' | 'unknown';
  /** The reason a redirect counts as `unknown`, when it does. */
  outcomeReason?: string;
  /** Whether this login taught the account's profile (a confirmed success the rules would allow). */
  learned?: boolean;
  statusCode?: number;
  /** True when `statusCode` came from the app although its response then failed. */
  statusFromApp?: boolean;
  upstreamError?: string;
  decisionMs: number;
  upstreamMs?: number;
}

export type UsernameLogMode = 'pseudonymise' | 'plain' | 'omit';

/**
 * Write the one decision line of a login, and return its fields for other sinks such as
 * the webhook. Every field is picked here by name from values riskgate computed. No
 * request header, body or cookie is copied wholesale, so passwords, tokens and cookies
 * cannot reach the log or the webhook through this function.
 */
export function writeDecisionLine(logger: Logger, record: LoginRecord, usernameMode: UsernameLogMode): Record<string, unknown> {
  const truncated: string[] = [];
  const clean = (field: string, value: string) => {
    if (isLogSafe(value)) return value;
    const result = sanitizeLogValue(value);
    if (result.truncated) truncated.push(field);
    return result.text;
  };

  const user = userField(record, usernameMode, clean);
  const evaluation = record.evaluation;
  const line = {
    event: {
      kind: 'event',
      category: ['authentication'],
      type: ['start'],
      action: `login-${record.decision}`,
      outcome: record.outcome,
      module: 'riskgate',
      ...(record.startedAt !== undefined ? { start: new Date(record.startedAt).toISOString() } : {}),
    },
    source: {
      ip: record.client.address,
      ...(record.geo.known
        ? {
            geo: {
              country_iso_code: record.geo.country,
              region_iso_code: record.geo.region ? `${record.geo.country}-${record.geo.region}` : undefined,
              city_name: record.geo.city || undefined,
              location: { lat: record.geo.latitude, lon: record.geo.longitude },
            },
          }
        : {}),
    },
    user_agent: {
      original: clean('user_agent.original', record.userAgent),
      name: clean('user_agent.name', record.userAgentSignals.browser) || undefined,
      version: clean('user_agent.version', record.userAgentSignals.browser_version) || undefined,
      os: { name: clean('user_agent.os.name', record.userAgentSignals.os) || undefined },
      device: { name: record.userAgentSignals.device_type || undefined },
    },
    ...(user ? { user } : {}),
    ...(record.devicePseudonym ? { device: { id: record.devicePseudonym } } : {}),
    rule: { name: evaluation.fired },
    http: {
      request: { id: record.requestId, method: record.method },
      ...(record.statusCode !== undefined ? { response: { status_code: record.statusCode } } : {}),
    },
    url: { path: clean('url.path', record.path) },
    riskgate: {
      decision: record.decision,
      ...(record.manual ? { manual: record.manual.action, manual_entry: manualEntryId(record.manual.id, usernameMode) } : {}),
      would_decision: evaluation.wouldDecision,
      score: evaluation.score,
      would_score: evaluation.wouldScore,
      rules: evaluation.fired,
      monitor_rules: evaluation.monitored,
      error_rules: evaluation.errored,
      counters: record.counters,
      signals: jsonSignals(record.signals, clean, usernameMode === 'omit'),
      rule_set: record.ruleSetVersion,
      route: record.routeId,
      store: record.store,
      ...(record.stepUp ? { step_up: record.stepUp } : {}),
      ...(record.outcomeReason ? { outcome_reason: record.outcomeReason } : {}),
      learned: record.learned === true,
      ...(record.upstreamError ? { upstream_error: record.upstreamError } : {}),
      latency_ms: {
        decision: round(record.decisionMs),
        ...(record.upstreamMs !== undefined ? { upstream: round(record.upstreamMs) } : {}),
      },
      ...(truncated.length > 0 ? { truncated } : {}),
    },
  };

  decisionLogger(logger).info(line, 'login decision');
  return line;
}

const decisionLoggers = new WeakMap<Logger, Logger>();

/**
 * Return a manual entry's id as the line carries it. A username entry's id contains the account
 * pseudonym, so under `log.username: omit` the line names only its kind, `username`.
 */
function manualEntryId(id: string, mode: UsernameLogMode): string {
  return mode === 'omit' && id.startsWith('username:') ? 'username' : id;
}

/**
 * Return a child of `logger` that writes at info whatever the configured level, and without
 * the redaction pass of logger.ts. That pass copies the line to look for secret-named keys, about 7 µs of a 24 µs line when timed
 * alone (bench/notes.md). The decision line has no such keys, because writeDecisionLine
 * builds it from named fields only.
 */
export function decisionLogger(logger: Logger): Logger {
  let child = decisionLoggers.get(logger);
  if (!child) {
    // One line per login is what a SIEM counts on, so decision lines are written at any
    // log.level: a level above info (warn, error, silent) applies to the other lines only.
    child = logger.child({}, { redact: { paths: [] }, level: 'info' });
    decisionLoggers.set(logger, child);
  }
  return child;
}

function userField(
  record: LoginRecord,
  mode: UsernameLogMode,
  clean: (field: string, value: string) => string,
): { name: string; hash?: string } | undefined {
  if (record.username === undefined || mode === 'omit') return undefined;
  // The pseudonym beside a plain name keys replay, since a long name is cut in the log.
  if (mode === 'plain') return { name: clean('user.name', record.username), hash: record.pseudonym };
  return { name: record.pseudonym ?? '' };
}

/**
 * Signals as plain JSON (bigint to number), with client strings made log-safe. With
 * `log.username: omit`, the username's length is left out too, since it narrows down who
 * the account is.
 */
function jsonSignals(
  signals: SignalValues,
  clean: (field: string, value: string) => string,
  omitUser: boolean,
): Record<string, Record<string, unknown>> {
  const result: Record<string, Record<string, unknown>> = {};
  for (const group in signals) {
    const fields = signals[group];
    const out: Record<string, unknown> = {};
    for (const field in fields) {
      if (omitUser && group === 'user' && field === 'length') continue;
      const value = fields[field];
      if (typeof value === 'bigint') out[field] = Number(value);
      else if (typeof value === 'string') out[field] = clean(`riskgate.signals.${group}.${field}`, value);
      else out[field] = value;
    }
    result[group] = out;
  }
  return result;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

import { appAnswered, checkedNoPassword } from '../decision/outcome.js';
import { TrustedProxies, resolveClientAddress } from '../request/client-ip.js';
import { isDecision, parseLabel, signalsFromJson, type LoginEvent, type LoginOutcome } from './event.js';

const NO_PROXIES = new TrustedProxies([]);
const MAX_CACHED_PREFIXES = 65_536;
const prefixes = new Map<string, string>();

/** Message of riskgate's decision lines; every other line of its log is skipped. */
export const DECISION_MESSAGE = 'login decision';

/**
 * Turn one parsed riskgate decision log line into a replay event. The counter key parts
 * come from the line: `ip` from riskgate.signals.ip.key, `ip_prefix` derived from
 * source.ip, `username` from user.hash or else user.name (the pseudonym is as good a key as the name),
 * `fingerprint` and `route` from the request signals, and `device` from device.id.
 */
export function eventFromDecisionLine(line: Record<string, any>, origin: string): LoginEvent | { error: string } {
  const riskgate = line.riskgate;
  if (typeof riskgate !== 'object' || riskgate === null) {
    return { error: 'decision line has no riskgate object' };
  }
  const stamp = line.event?.start ?? line['@timestamp'];
  const time = typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
  if (!Number.isFinite(time)) {
    return { error: `invalid or missing event.start and @timestamp (${JSON.stringify(stamp)})` };
  }
  if (!isDecision(riskgate.decision)) {
    return { error: `invalid riskgate.decision ${JSON.stringify(riskgate.decision)}` };
  }

  const signals = signalsFromJson(riskgate.signals);
  const address = typeof line.source?.ip === 'string' ? line.source.ip : String(signals.ip.address);
  // A plain name may be cut to the log's value limit, so its pseudonym keys the account when logged.
  const hash = typeof line.user?.hash === 'string' && line.user.hash !== '' ? line.user.hash : undefined;
  const name = hash ?? (typeof line.user?.name === 'string' && line.user.name !== '' ? line.user.name : undefined);
  const fingerprint = String(signals.request.fingerprint);
  const outcome: LoginOutcome = line.event?.outcome === 'success' || line.event?.outcome === 'failure' ? line.event.outcome : 'unknown';

  return {
    time,
    signals,
    parts: {
      ip: String(signals.ip.key) || undefined,
      ip_prefix: prefixOf(address),
      username: name,
      device: typeof line.device?.id === 'string' && line.device.id !== '' ? line.device.id : undefined,
      fingerprint: fingerprint || undefined,
      route: typeof riskgate.route === 'string' ? riskgate.route : String(signals.request.route),
    },
    member: name,
    outcome,
    // Only a login the app answered has an upstream latency.
    forwarded: riskgate.latency_ms?.upstream !== undefined,
    // A login whose response failed after the app's status counts by that status, and its line
    // shows it by an outcome or an outcome reason.
    // NOTE: a status in neither list leaves no trace there, so replay skips such a login.
    passwordChecked: line.http?.response?.status_code !== undefined &&
      (appAnswered(riskgate.upstream_error) || outcome !== 'unknown' || typeof riskgate.outcome_reason === 'string') &&
      !checkedNoPassword(riskgate.outcome_reason),
    stepUpOk: riskgate.step_up?.ok === true,
    stepUpRejected: riskgate.step_up?.ok === false,
    recorded: {
      decision: riskgate.decision,
      rules: Array.isArray(riskgate.rules) ? riskgate.rules : undefined,
      ruleSet: typeof riskgate.rule_set === 'string' ? riskgate.rule_set : undefined,
      counters: typeof riskgate.counters === 'object' && riskgate.counters !== null ? riskgate.counters : undefined,
    },
    label: parseLabel(riskgate.label ?? line.labels?.label),
    origin,
  };
}

/** The `ip_prefix` counter key of an address: its /24, or /48 for IPv6, as the gateway keys it. */
export function prefixOf(address: string): string | undefined {
  const cached = prefixes.get(address);
  if (cached !== undefined) return cached;
  if (prefixes.size >= MAX_CACHED_PREFIXES) prefixes.clear();
  const prefix = resolveClientAddress(address, undefined, NO_PROXIES).prefix;
  prefixes.set(address, prefix);
  return prefix;
}

import type { KeyParts } from '../decision/counter-plan.js';
import type { Decision } from '../rules/types.js';
import { SIGNAL_SCHEMA, baselineSignals, type SignalValues } from '../signals/catalog.js';

export type Label = 'attack' | 'legitimate';
export type LoginOutcome = 'success' | 'failure' | 'unknown';

/** One recorded login, as replay re-scores it. */
export interface LoginEvent {
  /** When the login was judged, in ms since the epoch; counters are recomputed in this order. */
  time: number;
  signals: SignalValues;
  /** Counter key parts; a missing part makes the counters keyed by it not apply, as live. */
  parts: KeyParts;
  /** Member that distinct-username counters count: the pseudonym or username. */
  member?: string;
  /** The app's answer, when the login reached it. */
  outcome: LoginOutcome;
  /** Whether the recorded login was forwarded to the app. */
  forwarded: boolean;
  /**
   * Whether the app checked a password: false when it sent no response, or responded to a login
   * that filled none (see checkedNoPassword). Counters then skip the login, as live.
   * Absent means true.
   */
  passwordChecked?: boolean;
  /** Whether the login carried a valid step-up assertion, which turns a challenge into allow. */
  stepUpOk: boolean;
  /** Whether it carried a rejected one, which in step-up mode turns an allow into a challenge. */
  stepUpRejected?: boolean;
  /** What riskgate decided when the login happened; absent rules mean they are not known. */
  recorded: { decision: Decision; rules?: string[]; ruleSet?: string; counters?: Record<string, number> };
  label?: Label;
  /** `file:line` of the event, for messages. */
  origin: string;
}

const BASELINE = baselineSignals();
const SCHEMA = SIGNAL_SCHEMA as Record<string, Record<string, string>>;

/**
 * Convert logged JSON signals to their CEL types without cloning a baseline per event: every
 * catalog field is taken from `input` when it has the right type, else from an ordinary
 * browser login. Fields the catalog lacks are ignored, so logs of a newer version replay.
 */
export function signalsFromJson(input: Record<string, Record<string, unknown> | undefined> | undefined): SignalValues {
  const signals: SignalValues = {};
  for (const group in SCHEMA) {
    const fields = SCHEMA[group];
    const given = input?.[group];
    const base = BASELINE[group];
    const out: Record<string, string | bigint | number | boolean> = {};
    for (const field in fields) {
      const value = given?.[field];
      const type = fields[field];
      if (type === 'int' && typeof value === 'number' && Number.isInteger(value)) out[field] = BigInt(value);
      else if (type === 'double' && typeof value === 'number') out[field] = value;
      else if (type === 'string' && typeof value === 'string') out[field] = value;
      else if (type === 'bool' && typeof value === 'boolean') out[field] = value;
      else out[field] = base[field];
    }
    signals[group] = out;
  }
  return signals;
}

/** Read a label value, accepting the two documented words in any case. */
export function parseLabel(value: unknown): Label | undefined {
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  return word === 'attack' || word === 'legitimate' ? word : undefined;
}

export function isDecision(value: unknown): value is Decision {
  return value === 'allow' || value === 'challenge' || value === 'block';
}

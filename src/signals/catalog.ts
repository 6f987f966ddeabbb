/**
 * Every signal a rule condition can read, with its CEL type. Rule files are type-checked
 * against this catalog at load, so a misspelt signal fails with its file and line. Counters
 * are added to `counters` from the rule set's own declarations.
 */
export const SIGNAL_SCHEMA = {
  ip: {
    address: 'string',
    version: 'int',
    /** The address for IPv4, the /64 network for IPv6: what `ip` counters are keyed by. */
    key: 'string',
    private: 'bool',
    /** Autonomous system number from the MaxMind ASN database; 0 without one. */
    asn: 'int',
    as_org: 'string',
  },
  geo: {
    known: 'bool',
    country: 'string',
    region: 'string',
    city: 'string',
    latitude: 'double',
    longitude: 'double',
  },
  ua: {
    browser: 'string',
    browser_version: 'string',
    os: 'string',
    device_type: 'string',
    automation: 'bool',
    empty: 'bool',
    length: 'int',
  },
  request: {
    route: 'string',
    method: 'string',
    fingerprint: 'string',
    has_accept: 'bool',
    has_accept_language: 'bool',
    has_accept_encoding: 'bool',
    header_count: 'int',
  },
  user: {
    present: 'bool',
    length: 'int',
  },
  device: {
    known: 'bool',
  },
  /** The login against its account's profile of earlier successes (src/profile). */
  account: {
    /** No success is on record within the retention, so every `known_*` is false. */
    first_login: 'bool',
    known_device: 'bool',
    known_browser: 'bool',
    known_country: 'bool',
    known_asn: 'bool',
    /** The /24 (IPv4) or /64 (IPv6) is one the account succeeded from. */
    known_network: 'bool',
    /** Whole days since the last success; -1 on a first login. */
    days_since_last_success: 'int',
    successes: 'int',
    /** Sum of per-feature log10 likelihood ratios, attacker against owner; 0 without history. */
    risk: 'double',
  },
  travel: {
    distance_km: 'double',
    speed_kmh: 'double',
    impossible: 'bool',
  },
} as const;

export type SignalGroup = keyof typeof SIGNAL_SCHEMA;
export const SIGNAL_GROUPS = Object.keys(SIGNAL_SCHEMA) as SignalGroup[];

/** Signals in their CEL form: ints are bigint, doubles are number. */
export type SignalValues = Record<string, Record<string, string | bigint | number | boolean>>;

/**
 * Signals of an ordinary browser login from a public address with no history: the base
 * that rule tests and `explain` fill in before applying the values a case gives.
 */
export function baselineSignals(): SignalValues {
  return {
    ip: { address: '198.51.100.10', version: 4n, key: '198.51.100.10', private: false, asn: 0n, as_org: '' },
    geo: { known: true, country: 'GB', region: 'ENG', city: 'London', latitude: 51.5, longitude: -0.12 },
    ua: {
      browser: 'Firefox',
      browser_version: '128.0',
      os: 'Linux',
      device_type: 'desktop',
      automation: false,
      empty: false,
      length: 70n,
    },
    request: {
      route: 'route-1',
      method: 'POST',
      fingerprint: '0000000000000000',
      has_accept: true,
      has_accept_language: true,
      has_accept_encoding: true,
      header_count: 9n,
    },
    user: { present: true, length: 5n },
    device: { known: false },
    account: {
      first_login: true,
      known_device: false,
      known_browser: false,
      known_country: false,
      known_asn: false,
      known_network: false,
      days_since_last_success: -1n,
      successes: 0n,
      risk: 0,
    },
    travel: { distance_km: 0, speed_kmh: 0, impossible: false },
  };
}

/**
 * Convert plain JSON values (from a rule test, an explain input or a decision log line) to
 * the CEL types of the catalog; unknown groups and fields are reported, not dropped.
 */
export function toSignalValues(
  input: Record<string, unknown>,
  counterNames: readonly string[],
  base: SignalValues = baselineSignals(),
): { signals: SignalValues; counters: Record<string, bigint>; problems: string[] } {
  const problems: string[] = [];
  const signals: SignalValues = structuredClone(base);
  const counters: Record<string, bigint> = Object.fromEntries(counterNames.map((name) => [name, 0n]));

  for (const [group, fields] of Object.entries(input)) {
    if (typeof fields !== 'object' || fields === null) {
      problems.push(`signal group "${group}" must be a mapping`);
      continue;
    }
    if (group === 'counters') {
      for (const [name, value] of Object.entries(fields)) {
        if (!(name in counters)) problems.push(`unknown counter "${name}"`);
        else if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`counter "${name}" must be an integer`);
        else counters[name] = BigInt(value);
      }
      continue;
    }
    const schema = (SIGNAL_SCHEMA as Record<string, Record<string, string>>)[group];
    if (!schema) {
      problems.push(`unknown signal group "${group}"; known groups: ${SIGNAL_GROUPS.join(', ')}, counters`);
      continue;
    }
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      const type = schema[field];
      const converted = type ? convert(value, type) : undefined;
      if (!type) problems.push(`unknown signal "${group}.${field}"`);
      else if (converted === undefined) problems.push(`signal "${group}.${field}" must be of type ${type}`);
      else signals[group][field] = converted;
    }
  }

  return { signals, counters, problems };
}

function convert(value: unknown, type: string): string | bigint | number | boolean | undefined {
  if (type === 'string' && typeof value === 'string') return value;
  if (type === 'bool' && typeof value === 'boolean') return value;
  if (type === 'int' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (type === 'int' && typeof value === 'bigint') return value;
  if (type === 'double' && typeof value === 'number') return value;
  return undefined;
}

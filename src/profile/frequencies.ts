import type { StoreReading } from '../store/resilient.js';
import type { ReadRequest, WriteRequest } from '../store/store.js';
import type { LoginFeatures, ProfileFeature } from './features.js';

/** Features whose values are counted across all logins; device ids are unique, so not them. */
export const GLOBAL_FEATURES = ['browser', 'os', 'country', 'region', 'city', 'asn', 'network'] as const satisfies readonly ProfileFeature[];

type GlobalFeature = (typeof GLOBAL_FEATURES)[number];

const TOTAL_FIELD = '~total';
const OTHER_FIELD = '~other';

/** The store calls a sync needs; the resilient store provides them. */
export interface FrequencyStore {
  readonly inOutage: boolean;
  read(request: ReadRequest, failMode: 'open' | 'closed'): Promise<StoreReading>;
  write(request: WriteRequest, source: string): Promise<void>;
  readonly primary: { kind: string };
}

/**
 * How common each feature value is across all judged logins, as bounded counters: per
 * feature the most frequent `maxValues` values plus one "other" bucket.
 *
 * Each process counts its own logins locally and merges them into one Redis hash per
 * feature every sync interval, then reads the merged table back. The login path therefore
 * reads these numbers from memory and keeps its one read and one write round trip, and
 * the hot global keys see one write per process per interval instead of one per login.
 * The price is staleness of up to one interval, which an estimate of how common a country
 * or browser is can afford.
 */
export class GlobalFrequencies {
  private snapshot = new Map<GlobalFeature, Map<string, number>>();
  private deltas = new Map<GlobalFeature, Map<string, number>>();
  private pendingTrims = new Map<GlobalFeature, string[]>();
  private logins = 0;

  constructor(private readonly maxValues: number) {}

  /** Count one judged login's values. */
  observe(features: LoginFeatures): void {
    this.logins += 1;
    for (const feature of GLOBAL_FEATURES) {
      const value = features[feature];
      if (value === undefined) continue;
      const deltas = this.table(this.deltas, feature);
      const tracked = deltas.has(value) || this.snapshot.get(feature)?.has(value) || deltas.size < this.maxValues + 2;
      const field = tracked ? value : OTHER_FIELD;
      deltas.set(field, (deltas.get(field) ?? 0) + 1);
      deltas.set(TOTAL_FIELD, (deltas.get(TOTAL_FIELD) ?? 0) + 1);
    }
  }

  /**
   * Laplace-smoothed share of logins showing `value`: (C(v) + 1) / (N + K + 1), where C(v)
   * is its count, N all counted logins with this feature, and K the values tracked. A value
   * in the "other" bucket, or never seen, counts as C(v) = 0.
   */
  probability(feature: ProfileFeature, value: string): number {
    if (feature === 'device') {
      return 1 / (this.totalLogins + 2);
    }
    const snapshot = this.snapshot.get(feature);
    const deltas = this.deltas.get(feature);
    const count = (snapshot?.get(value) ?? 0) + (deltas?.get(value) ?? 0);
    const total = (snapshot?.get(TOTAL_FIELD) ?? 0) + (deltas?.get(TOTAL_FIELD) ?? 0);
    const tracked = valueCount(snapshot) + valueCount(deltas);
    return (count + 1) / (total + tracked + 1);
  }

  /** Logins counted in the merged table and locally since the last sync. */
  get totalLogins(): number {
    let largest = this.logins;
    for (const feature of GLOBAL_FEATURES) {
      largest = Math.max(largest, this.snapshot.get(feature)?.get(TOTAL_FIELD) ?? 0);
    }
    return largest;
  }

  /**
   * Merge the local counts into the store and read the merged table back. Skipped while the
   * store is out, so the counts wait for the next sync and the outage fallback's empty
   * table never replaces the merged one.
   */
  async sync(store: FrequencyStore, prefix: string, now: number): Promise<void> {
    if (store.inOutage) return;
    const write = this.takeDeltas(prefix, now);
    if (write.hashIncrements!.length > 0 || write.hashFieldDeletes!.length > 0) {
      await store.write(write, store.primary.kind);
    }

    const keys = GLOBAL_FEATURES.map((feature) => frequencyKey(prefix, feature));
    const reading = await store.read({ now, counters: [], claims: [], hashes: keys }, 'closed');
    GLOBAL_FEATURES.forEach((feature, index) => this.applySnapshot(feature, reading.result.hashes[index] ?? null));
    this.logins = 0;
  }

  private takeDeltas(prefix: string, now: number): WriteRequest {
    const hashIncrements: NonNullable<WriteRequest['hashIncrements']>[number][] = [];
    const hashFieldDeletes: NonNullable<WriteRequest['hashFieldDeletes']>[number][] = [];
    for (const feature of GLOBAL_FEATURES) {
      const key = frequencyKey(prefix, feature);
      const deltas = this.deltas.get(feature);
      for (const [field, by] of deltas ?? []) hashIncrements.push({ key, field, by });

      const trims = this.pendingTrims.get(feature);
      if (trims && trims.length > 0) {
        const moved = trims.reduce((sum, field) => sum + (this.snapshot.get(feature)?.get(field) ?? 0), 0);
        hashFieldDeletes.push({ key, fields: trims });
        hashIncrements.push({ key, field: OTHER_FIELD, by: moved });
      }
    }
    this.deltas.clear();
    this.pendingTrims.clear();
    return { now, increments: [], distinct: [], resets: [], hashIncrements, hashFieldDeletes };
  }

  private applySnapshot(feature: GlobalFeature, fields: Readonly<Record<string, string>> | null): void {
    const table = new Map<string, number>();
    for (const [field, text] of Object.entries(fields ?? {})) {
      const count = Number(text);
      if (Number.isFinite(count) && count > 0) table.set(field, count);
    }
    this.snapshot.set(feature, table);

    // Past the cap, the least frequent values move into "other" on the next sync.
    // NOTE: two processes trimming the same values at once both add them to "other", so
    // the bucket can overcount by one interval's trims; the estimate tolerates that.
    const values = [...table].filter(([field]) => field !== TOTAL_FIELD && field !== OTHER_FIELD);
    if (values.length > this.maxValues) {
      values.sort((a, b) => a[1] - b[1]);
      this.pendingTrims.set(feature, values.slice(0, values.length - this.maxValues).map(([field]) => field));
    }
  }

  private table(tables: Map<GlobalFeature, Map<string, number>>, feature: GlobalFeature): Map<string, number> {
    let table = tables.get(feature);
    if (!table) {
      table = new Map();
      tables.set(feature, table);
    }
    return table;
  }
}

function valueCount(table: Map<string, number> | undefined): number {
  if (!table) return 0;
  return table.size - (table.has(TOTAL_FIELD) ? 1 : 0) - (table.has(OTHER_FIELD) ? 1 : 0);
}

/** Store key of one feature's global table; all tables share one hash tag, so one Cluster slot. */
export function frequencyKey(prefix: string, feature: ProfileFeature): string {
  return `${prefix}:g:{frequencies}:${feature}`;
}

import type { Logger } from 'pino';

import type { StoreFailMode } from '../config/types.js';
import { RiskgateError } from '../errors.js';
import { MemoryStore } from './memory.js';
import { isRequestInvalid } from './request-errors.js';
import type { CounterStore, ReadRequest, ReadResult, WriteRequest } from './store.js';

/** How long riskgate skips a failed store before trying it again. */
const RETRY_AFTER_FAILURE_MS = 1000;

/** Lifetime of the value that tests whether a store that refused a write takes writes again. */
const PROBE_TTL_MS = 10_000;

/** Told about every call to the primary store, for metrics; `ok` is false when it failed or timed out. */
export interface StoreObserver {
  storeCall(operation: 'read' | 'write', ok: boolean): void;
}

export interface StoreReading {
  result: ReadResult;
  /** `redis`, `memory`, or `memory-fallback` while the primary store is out. */
  source: string;
}

/**
 * The primary store (Redis) with a per-process memory fallback. A failed or timed-out call
 * starts an outage: one error line is logged, the store is skipped for a second at a time,
 * and calls go to the fallback (fail-open routes) or are refused (fail-closed routes) until
 * a call succeeds again, which logs one line that the outage ended.
 *
 * A call that the store rejects for its own arguments or keys (RG_ERR_STORE_REQUEST_INVALID)
 * starts no outage, because the store still serves every other request. Such a read throws
 * for that request alone, whatever its fail mode: judging it by the fallback's local counts
 * would let a client escape the shared counters by sending inputs that Redis rejects.
 */
export class ResilientStore {
  readonly fallback: MemoryStore;
  private outageSince: number | undefined;
  private skipUntil = 0;
  private failedCalls = 0;
  /** Calls the store rejected for their own arguments since start, for the log line. */
  private rejectedRequests = 0;
  private lastFailure: string | undefined;
  /**
   * True after a write failed. A full Redis under `noeviction` still serves reads while it
   * rejects writes, so a read alone must not end the outage. A write must succeed first.
   */
  private writeFailing = false;
  observer: StoreObserver | undefined;

  constructor(
    readonly primary: CounterStore,
    private readonly logger: Logger,
    fallbackMaxEntries: number,
    private readonly probeKey?: string,
  ) {
    this.fallback = new MemoryStore({ maxEntries: fallbackMaxEntries });
  }

  get inOutage(): boolean {
    return this.outageSince !== undefined;
  }

  /** Message of the primary store's latest failure during the current outage, such as a timeout. */
  get lastError(): string | undefined {
    return this.lastFailure;
  }

  /** Read from the primary store, or per `failMode` from the fallback or not at all (throws). */
  async read(request: ReadRequest, failMode: StoreFailMode): Promise<StoreReading> {
    if (this.primary.kind === 'memory') {
      const result = await this.primary.read(request);
      this.observer?.storeCall('read', true);
      return { result, source: 'memory' };
    }

    // While writes fail, fail-open logins are judged by the fallback and their writes probe
    // the primary store. Fail-closed logins make no writes, so a probe value tests it for them.
    const probeWithValue = this.writeFailing && failMode === 'closed' && this.probeKey !== undefined;
    if (Date.now() >= this.skipUntil && (!this.writeFailing || probeWithValue)) {
      try {
        if (probeWithValue) {
          await this.primary.setValue(this.probeKey!, '1', PROBE_TTL_MS);
          this.writeFailing = false;
        }
        const result = await this.primary.read(request);
        this.observer?.storeCall('read', true);
        this.recovered();
        return { result, source: this.primary.kind };
      } catch (error) {
        this.observer?.storeCall('read', false);
        if (isRequestInvalid(error)) {
          this.logRejectedRequest('read', error);
          throw error;
        }
        this.failed(error);
      }
    }

    if (failMode === 'closed') {
      throw new RiskgateError('RG_ERR_STORE_UNAVAILABLE', 'the risk store is unavailable and this route fails closed');
    }
    return { result: await this.fallback.read(request), source: 'memory-fallback' };
  }

  /** Write to wherever the matching read went; a failed write is logged as part of the outage. */
  async write(request: WriteRequest, source: string): Promise<void> {
    const probe = source === 'memory-fallback' && this.writeFailing && Date.now() >= this.skipUntil;
    if (source !== 'memory-fallback' || probe) {
      try {
        await this.primary.write(request);
        this.observer?.storeCall('write', true);
        if (this.primary.kind !== 'memory') this.recovered();
        return;
      } catch (error) {
        this.observer?.storeCall('write', false);
        // Redis ran the pipeline's other commands, so the fallback gets none of them.
        if (isRequestInvalid(error)) {
          this.logRejectedRequest('write', error);
          return;
        }
        this.writeFailing = true;
        this.failed(error);
      }
    }
    await this.fallback.write(request);
  }

  async close(): Promise<void> {
    await this.primary.close();
    await this.fallback.close();
  }

  private logRejectedRequest(operation: 'read' | 'write', error: Error): void {
    this.rejectedRequests += 1;
    this.logger.error(
      { store: this.primary.kind, operation, rejected_requests: this.rejectedRequests, err: { message: error.message } },
      'store rejected one request; no outage started',
    );
  }

  private failed(error: unknown): void {
    this.failedCalls += 1;
    this.skipUntil = Date.now() + RETRY_AFTER_FAILURE_MS;
    const message = error instanceof Error ? error.message : String(error);
    this.lastFailure = message;
    if (this.outageSince === undefined) {
      this.outageSince = Date.now();
      this.logger.error({ store: this.primary.kind, err: { message } }, 'store outage started');
    }
  }

  private recovered(): void {
    if (this.outageSince === undefined) return;
    this.logger.warn(
      { store: this.primary.kind, outage_ms: Date.now() - this.outageSince, failed_calls: this.failedCalls },
      'store outage ended',
    );
    // What the fallback counted and learned was never written to the shared store. Kept, it
    // would judge the next outage's logins by this one's: an attacker's new country known,
    // the owner's home unknown.
    this.fallback.clear();
    // The fallback is empty now, so reads go back to the primary store at once, not after the retry delay.
    this.skipUntil = 0;
    this.outageSince = undefined;
    this.writeFailing = false;
    this.failedCalls = 0;
    this.lastFailure = undefined;
  }
}

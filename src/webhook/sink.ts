import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';

import { VERSION } from '../cli/version.js';
import type { WebhookConfig } from '../config/types.js';
import type { Decision } from '../rules/types.js';

/** Delay before the second attempt. It doubles for each later attempt, up to the maximum. */
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 30_000;
/** Minimum time between two `webhook documents dropped` lines, each of which counts the drops since the last. */
const DROP_LOG_INTERVAL_MS = 10_000;
/** Time that shutdown gives the queue to drain before the rest is dropped. */
const DRAIN_DEADLINE_MS = 3000;

type DropReason = 'queue_full' | 'gave_up' | 'rejected' | 'shutdown';

type AttemptResult = { ok: true } | { ok: false; retry: boolean; reason: string };

/**
 * Sends decision documents to an HTTP receiver, one POST each, in order, off the login
 * path. `enqueue` only appends to a bounded queue, so a slow or dead receiver never delays
 * a login. A document is retried with doubling delays on network errors, timeouts, 408,
 * 429 and 5xx responses, up to `maxAttempts`. Other responses drop it at once, because
 * repeating the same request cannot succeed. When the queue is full, the oldest document is
 * dropped. A document that waits takes in later ones of the same decision and client: the
 * source address for IPv4, its /64 for IPv6.
 */
export class WebhookSink {
  /** Documents waiting for delivery, not counting the one in flight. */
  private readonly queue: Record<string, unknown>[] = [];
  /** The waiting document of each decision and client, which repeats are merged into. */
  private readonly waiting = new Map<string, Record<string, unknown>>();
  private readonly keys = new WeakMap<Record<string, unknown>, string>();
  private inFlight = 0;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private failing = false;
  private failedAttempts = 0;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private readonly documents: Counter<'result'>;
  private readonly queueLength: Gauge;

  constructor(
    private readonly config: WebhookConfig,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.documents = new Counter({
      name: 'riskgate_webhook_documents_total',
      help: 'Webhook documents by result (delivered, queue_full, gave_up, rejected, shutdown)',
      labelNames: ['result'],
      registers: [registry],
    });
    for (const result of ['delivered', 'queue_full', 'gave_up', 'rejected', 'shutdown']) this.documents.labels(result).inc(0);
    this.queueLength = new Gauge({
      name: 'riskgate_webhook_queue_length',
      help: 'Webhook documents waiting for delivery, the one in flight included',
      registers: [registry],
    });
  }

  /**
   * Queue a login's decision line, as the log writes it, if the webhook takes that
   * decision. Never waits.
   */
  enqueue(decision: Decision, line: Record<string, unknown>): void {
    if (!this.config.decisions.includes(decision) || this.stopping.signal.aborted) return;

    // A client that keeps sending from a blocked address would otherwise fill the queue with
    // its own blocks and push out those of other attacks. Its repeats are counted on the
    // document still waiting instead: `riskgate.merged` and the time of the last. A client
    // is its counter key, so an IPv6 client is its /64, as it is blocked, not each address.
    const source = clientKeyOf(line);
    const key = source === undefined ? undefined : `${decision} ${source}`;
    const waiting = key === undefined ? undefined : this.waiting.get(key);
    if (waiting) {
      const riskgate = waiting.riskgate as Record<string, unknown>;
      waiting.riskgate = { ...riskgate, merged: Number(riskgate.merged ?? 0) + 1, last_merged_at: new Date().toISOString() };
      return;
    }

    const document: Record<string, unknown> = { '@timestamp': new Date().toISOString(), message: 'login decision', ...line };
    if (this.queue.length >= this.config.queueSize) {
      this.forget(this.queue.shift()!);
      this.dropped('queue_full', 1);
    }
    if (key !== undefined) {
      this.waiting.set(key, document);
      this.keys.set(document, key);
    }
    this.queue.push(document);
    this.queueLength.set(this.queue.length + this.inFlight);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /**
   * Give the queue a few seconds to drain, then stop. The document in flight is aborted,
   * and the rest are dropped and counted.
   */
  async close(): Promise<void> {
    const deadline = sleep(DRAIN_DEADLINE_MS, undefined, { ref: false });
    await Promise.race([this.running, deadline]);
    this.stopping.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    let aborted = 0;
    while (this.queue.length > 0 && aborted === 0) {
      const document = this.queue.shift()!;
      this.forget(document);
      this.inFlight = 1;
      const result = await this.deliver(document);
      this.inFlight = 0;
      this.queueLength.set(this.queue.length);

      if (result === 'delivered') this.documents.labels('delivered').inc();
      else if (result === 'shutdown') aborted = 1;
      else this.dropped(result, 1);
    }

    const unsent = aborted + this.queue.length;
    if (unsent > 0) {
      this.queue.length = 0;
      this.waiting.clear();
      this.queueLength.set(0);
      this.dropped('shutdown', unsent);
    }
  }

  /** Stop merging repeats into a document that leaves the queue. */
  private forget(document: Record<string, unknown>): void {
    const key = this.keys.get(document);
    if (key !== undefined && this.waiting.get(key) === document) this.waiting.delete(key);
  }

  /** Send one document with its retries, and return `delivered` or why it was dropped. */
  private async deliver(document: Record<string, unknown>): Promise<'delivered' | DropReason> {
    const body = JSON.stringify(document);
    for (let attempt = 1; attempt <= this.config.maxAttempts; attempt += 1) {
      const result = await this.attempt(body);
      if (result.ok) {
        this.recovered();
        return 'delivered';
      }

      if (this.stopping.signal.aborted) return 'shutdown';
      this.attemptFailed(result.reason, attempt);
      if (!result.retry) return 'rejected';
      if (attempt < this.config.maxAttempts) {
        const delay = Math.min(FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
        try {
          await sleep(delay, undefined, { signal: this.stopping.signal });
        } catch {
          return 'shutdown';
        }
      }
    }
    return 'gave_up';
  }

  private async attempt(body: string): Promise<AttemptResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `riskgate/${VERSION}` };
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;

    // NOTE: this uses a plain timer rather than AbortSignal.any with AbortSignal.timeout. In
    // Node 20 a timeout signal inside such a composite can be garbage collected and then
    // never fire (nodejs/node#57736), so a hanging receiver's request would stay open.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.config.timeoutMs);
    const stop = () => controller.abort();
    this.stopping.signal.addEventListener('abort', stop, { once: true });

    try {
      const response = await fetch(this.config.url, { method: 'POST', headers, body, redirect: 'manual', signal: controller.signal });
      await response.body?.cancel();
      if (response.status >= 200 && response.status < 300) return { ok: true };
      const retry = response.status === 408 || response.status === 429 || response.status >= 500;
      return { ok: false, retry, reason: `HTTP ${response.status}` };
    } catch (error) {
      if (timedOut) return { ok: false, retry: true, reason: `timed out after ${this.config.timeoutMs} ms` };
      const cause = (error as { cause?: Error }).cause;
      return { ok: false, retry: true, reason: cause?.message ?? (error as Error).message };
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', stop);
    }
  }

  /** Log the first failed attempt of a run of failures. The end of the run logs their count. */
  private attemptFailed(reason: string, attempt: number): void {
    this.failedAttempts += 1;
    if (this.failing) return;
    this.failing = true;
    // The log names only the origin, because a webhook URL's path or query often contains its secret.
    const token = this.config.token;
    const message = token ? hideUrls(reason).split(token).join('[token]') : hideUrls(reason);
    this.logger.warn({ webhook: { origin: this.config.url.origin }, err: { message }, attempt }, 'webhook delivery failed');
  }

  private recovered(): void {
    if (!this.failing) return;
    this.logger.info({ webhook: { origin: this.config.url.origin }, failed_attempts: this.failedAttempts }, 'webhook deliveries resumed');
    this.failing = false;
    this.failedAttempts = 0;
  }

  private dropped(reason: DropReason, count: number): void {
    this.documents.labels(reason).inc(count);
    this.droppedSinceLog += count;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS && reason !== 'shutdown') return;
    // `dropped` counts every document dropped since the last line, whatever the reason.
    this.logger.warn(
      { webhook: { origin: this.config.url.origin }, reason, dropped: this.droppedSinceLog },
      'webhook documents dropped',
    );
    this.lastDropLog = now;
    this.droppedSinceLog = 0;
  }
}

/** Replace each URL in an error message with its scheme and host: fetch errors may quote the webhook URL. */
function hideUrls(message: string): string {
  return message.replace(/\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/@]*@)?([^\s/?#]*)[^\s]*/gi, '$1$2/...');
}

/** Return the client a decision line counts by: its `ip` counter key, else its source address. */
function clientKeyOf(line: Record<string, unknown>): string | undefined {
  const riskgate = line.riskgate as { signals?: { ip?: { key?: unknown } } } | undefined;
  const key = riskgate?.signals?.ip?.key;
  if (typeof key === 'string') return key;
  const source = (line.source as { ip?: unknown } | undefined)?.ip;
  return typeof source === 'string' ? source : undefined;
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { Decision, RuleMode } from '../rules/types.js';
import type { StoreObserver } from '../store/resilient.js';

type CounterChild = ReturnType<Counter<string>['labels']>;

/** Seconds from a login's arrival to its decision: the gateway's own cost, store included. */
const DECISION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Seconds the upstream app took to respond to a forwarded login. */
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const DECISIONS: readonly Decision[] = ['allow', 'challenge', 'block'];

export type StoreOperation = 'read' | 'write';

/**
 * The Prometheus metrics of one gateway, in a registry of its own, so several gateways in
 * one process never share or collide. Every label value is bounded: decisions, rule ids
 * from the loaded rule set, store operations, status codes. No username or address is
 * ever a label. Label children are cached so a login allocates no label objects.
 */
export class GatewayMetrics implements StoreObserver {
  readonly registry = new Registry();
  readonly decisions: Counter<'action'>;
  readonly ruleMatches: Counter<'rule' | 'mode'>;
  readonly ruleErrors: Counter<'rule'>;
  readonly manualMatches: Counter<'action'>;
  readonly stepUps: Counter<'result'>;
  readonly loginRejections: Counter<'status'>;
  readonly decisionSeconds: Histogram;
  readonly upstreamSeconds: Histogram;
  readonly storeRoundTrips: Counter<'operation'>;
  readonly storeErrors: Counter<'operation'>;
  /** Times this gateway found that Redis had lost its data, as after a restart without persistence. */
  readonly storeDataLosses: Counter;
  /** Rule reloads by `result` (`success` or `failure`); the reloader increments it. */
  readonly ruleReloads: Counter<'result'>;
  readonly requestsInFlight: Gauge;
  readonly adminRequests: Counter<'action' | 'result'>;

  private readonly decisionChildren = new Map<string, CounterChild>();
  private readonly ruleChildren = new Map<string, CounterChild>();
  private readonly ruleErrorChildren = new Map<string, CounterChild>();
  private readonly storeCallChildren: Record<StoreOperation, CounterChild>;
  private readonly storeErrorChildren: Record<StoreOperation, CounterChild>;
  private handling = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly onHandled = () => {
    this.handling -= 1;
    this.requestsInFlight.dec();
    if (this.handling === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  };

  constructor(state: { storeInOutage: () => boolean; ruleCount: () => number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.decisions = new Counter({
      name: 'riskgate_decisions_total',
      help: 'Login decisions, by action (allow, challenge, block)',
      labelNames: ['action'],
      registers,
    });
    this.ruleMatches = new Counter({
      name: 'riskgate_rule_matches_total',
      help: 'Logins on which a rule fired, by rule id and rule mode (enforce, monitor)',
      labelNames: ['rule', 'mode'],
      registers,
    });
    this.ruleErrors = new Counter({
      name: 'riskgate_rule_errors_total',
      help: 'Logins on which a rule\'s condition failed at run time, so the rule did not fire, by rule id',
      labelNames: ['rule'],
      registers,
    });
    this.manualMatches = new Counter({
      name: 'riskgate_manual_matches_total',
      help: 'Logins decided by a manual block or allow entry, by action',
      labelNames: ['action'],
      registers,
    });
    this.stepUps = new Counter({
      name: 'riskgate_step_ups_total',
      help: 'Logins that carried a step-up assertion, by result: passed, or the reason it was rejected',
      labelNames: ['result'],
      registers,
    });
    this.loginRejections = new Counter({
      name: 'riskgate_login_rejections_total',
      help: 'Logins rejected before any decision (unreadable body, store unavailable), by status code',
      labelNames: ['status'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'riskgate_decision_duration_seconds',
      help: 'Time from the arrival of a login to its decision, store round trip included',
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.upstreamSeconds = new Histogram({
      name: 'riskgate_upstream_duration_seconds',
      help: 'Time the upstream app took to respond to a forwarded login',
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.storeRoundTrips = new Counter({
      name: 'riskgate_store_round_trips_total',
      help: 'Calls to the primary counter store, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.storeErrors = new Counter({
      name: 'riskgate_store_errors_total',
      help: 'Calls to the primary counter store that failed or timed out, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.storeDataLosses = new Counter({
      name: 'riskgate_store_data_losses_total',
      help: 'Times the gateway found that Redis had lost its data (step-up claims, manual entries, counters)',
      registers,
    });
    this.ruleReloads = new Counter({
      name: 'riskgate_rule_reloads_total',
      help: 'Rule set reloads, by result (success, failure)',
      labelNames: ['result'],
      registers,
    });
    this.requestsInFlight = new Gauge({
      name: 'riskgate_requests_in_flight',
      help: 'Requests on the public listener still being handled',
      registers,
    });
    this.adminRequests = new Counter({
      name: 'riskgate_admin_requests_total',
      help: 'Admin API requests, by action and result (success, rejected, failed)',
      labelNames: ['action', 'result'],
      registers,
    });
    new Gauge({
      name: 'riskgate_store_outage',
      help: '1 while the primary counter store is in an outage, else 0',
      registers,
      collect() {
        this.set(state.storeInOutage() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'riskgate_rules_loaded',
      help: 'Rules in the rule set in force',
      registers,
      collect() {
        this.set(state.ruleCount());
      },
    });

    // A labelled series appears in a scrape only once incremented. Adding 0 shows the known
    // label values as 0 from the start, so rate() and alerts see them before the first event.
    for (const action of DECISIONS) {
      this.decisionChildren.set(action, this.decisions.labels(action));
      this.manualMatches.labels(action).inc(0);
      this.decisions.labels(action).inc(0);
    }
    this.ruleReloads.labels('success').inc(0);
    this.ruleReloads.labels('failure').inc(0);
    this.storeCallChildren = { read: this.storeRoundTrips.labels('read'), write: this.storeRoundTrips.labels('write') };
    this.storeErrorChildren = { read: this.storeErrors.labels('read'), write: this.storeErrors.labels('write') };
    for (const child of [...Object.values(this.storeCallChildren), ...Object.values(this.storeErrorChildren)]) child.inc(0);
  }

  /** Count one login's decision, the rules that fired or failed, and its latencies. */
  observeDecision(observation: {
    decision: Decision;
    evaluation: { fired: readonly string[]; monitored: readonly string[]; errored: readonly string[] };
    manual?: { action: Decision };
    stepUp?: { ok: boolean; reason?: string };
    decisionMs: number;
    upstreamMs?: number;
  }): void {
    this.decisionChild(observation.decision).inc();
    for (const rule of observation.evaluation.fired) this.ruleChild(rule, 'enforce').inc();
    for (const rule of observation.evaluation.monitored) this.ruleChild(rule, 'monitor').inc();
    for (const rule of observation.evaluation.errored) this.ruleErrorChild(rule).inc();
    if (observation.manual !== undefined) this.manualMatches.labels(observation.manual.action).inc();
    // The reasons are a fixed set (StepUpFailure), so the label stays bounded.
    if (observation.stepUp !== undefined) this.stepUps.labels(observation.stepUp.ok ? 'passed' : observation.stepUp.reason ?? 'rejected').inc();
    this.decisionSeconds.observe(observation.decisionMs / 1000);
    if (observation.upstreamMs !== undefined) this.upstreamSeconds.observe(observation.upstreamMs / 1000);
  }

  /** Count one call to the primary store (the store's observer hook). */
  storeCall(operation: StoreOperation, ok: boolean): void {
    this.storeCallChildren[operation].inc();
    if (!ok) this.storeErrorChildren[operation].inc();
  }

  /**
   * Count a request on the public listener as in flight until its handling settles, which
   * for a login includes the outcome write and the decision line after the response.
   */
  trackRequest(handled: Promise<unknown>): void {
    this.handling += 1;
    this.requestsInFlight.inc();
    handled.then(this.onHandled, this.onHandled);
  }

  /** Resolve once no request is being handled; shutdown waits for this. */
  whenIdle(): Promise<void> {
    if (this.handling === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Render the exposition text for a scrape, with its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private decisionChild(decision: Decision): CounterChild {
    let child = this.decisionChildren.get(decision);
    if (!child) {
      child = this.decisions.labels(decision);
      this.decisionChildren.set(decision, child);
    }
    return child;
  }

  private ruleErrorChild(rule: string): CounterChild {
    let child = this.ruleErrorChildren.get(rule);
    if (!child) {
      child = this.ruleErrors.labels(rule);
      this.ruleErrorChildren.set(rule, child);
    }
    return child;
  }

  private ruleChild(rule: string, mode: RuleMode): CounterChild {
    const key = mode === 'enforce' ? rule : `${rule}\u0000monitor`;
    let child = this.ruleChildren.get(key);
    if (!child) {
      child = this.ruleMatches.labels(rule, mode);
      this.ruleChildren.set(key, child);
    }
    return child;
  }
}

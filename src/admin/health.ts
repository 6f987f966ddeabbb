import net from 'node:net';

import { decisionLogger } from '../log/decision-log.js';
import type { GatewayContext } from '../proxy/context.js';
import { poolUsage } from '../proxy/forward.js';

/** A probe reuses a store check younger than this instead of making a round trip. */
const STORE_CHECK_MAX_AGE_MS = 2000;
/** A probe reuses an upstream check younger than this instead of connecting again. */
const UPSTREAM_CHECK_MAX_AGE_MS = 5000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 1000;

interface CheckResult {
  ok: boolean;
  checkedAt: number;
  error?: string;
}

export interface ReadinessReport {
  /** 200 while the gateway should get traffic, else 503. */
  httpStatus: 200 | 503;
  body: {
    status: 'ready' | 'degraded' | 'not_ready' | 'stopping';
    checks: Record<string, Record<string, unknown>>;
    notes?: string[];
  };
}

/**
 * Readiness as load balancers and Kubernetes probes read it. Ready means: a rule set is
 * loaded, the store responds (or every login route fails open, which only degrades
 * judgement to per-process counters), and the upstream accepts TCP connections. Store and
 * upstream results are cached briefly, so frequent probes cost at most one check each.
 */
export class Readiness {
  private stopping = false;
  private store: CheckResult | undefined;
  private upstream: CheckResult | undefined;
  private storeCheck: Promise<CheckResult> | undefined;
  private upstreamCheck: Promise<CheckResult> | undefined;

  constructor(private readonly context: GatewayContext) {}

  /** Report not ready from now on, so load balancers drain this instance during shutdown. */
  markStopping(): void {
    this.stopping = true;
  }

  async report(): Promise<ReadinessReport> {
    const ruleSet = this.context.rules.current;
    const [store, upstream] = await Promise.all([this.checkStore(), this.checkUpstream()]);
    const routes = this.context.config.loginRoutes;
    const closedRoutes = routes.filter((route) => route.onStoreError === 'closed').map((route) => route.id);
    const rulesLoaded = ruleSet !== undefined && ruleSet.rules.length > 0;

    const pools = {
      login: poolUsage(this.context.upstream.loginAgent),
      pass_through: poolUsage(this.context.upstream.agent),
    };
    const fullPools = Object.entries(pools).filter(([, usage]) => usage.queued > 0).map(([name]) => name);
    const logFailure = this.checkLog();

    const checks = {
      rules: rulesLoaded ? this.rulesCheck() : { status: 'missing' },
      store: {
        status: store.ok ? 'ok' : 'unavailable',
        kind: this.context.store.primary.kind,
        ...(closedRoutes.length > 0 ? { fail_closed_routes: closedRoutes } : {}),
        ...(store.error ? { error: store.error } : {}),
        checked_at: new Date(store.checkedAt).toISOString(),
      },
      upstream: {
        status: upstream.ok ? 'ok' : 'unreachable',
        url: this.context.upstream.url.origin,
        pools,
        ...(upstream.error ? { error: upstream.error } : {}),
        checked_at: new Date(upstream.checkedAt).toISOString(),
      },
      log: logFailure ? { status: 'failing', error: logFailure.code ?? 'write failed' } : { status: 'ok' },
    };

    if (this.stopping) return { httpStatus: 503, body: { status: 'stopping', checks } };
    // Logins are refused while the decision log cannot be written, so the instance leaves rotation.
    if (!rulesLoaded || !upstream.ok || logFailure || (!store.ok && closedRoutes.length > 0)) {
      return { httpStatus: 503, body: { status: 'not_ready', checks } };
    }
    const notes: string[] = [];
    if (!store.ok) {
      notes.push('the counter store is unavailable; logins are judged with per-process memory counters ' +
        'until it answers again (every login route fails open)');
    }
    for (const name of fullPools) {
      notes.push(`all ${pools[name as keyof typeof pools].max} connections of the ${name} pool to the upstream are ` +
        'busy and requests wait for one; the app answers slowly or clients hold responses open');
    }
    // A full pool keeps the instance ready: every gateway in front of a slow app fills its
    // pools alike, and taking them all out of rotation would turn slowness into an outage.
    if (notes.length > 0) return { httpStatus: 200, body: { status: 'degraded', checks, notes } };
    return { httpStatus: 200, body: { status: 'ready', checks } };
  }

  /**
   * Report the rule set in force, with the mode and load time. A rejected reload leaves
   * the instance ready, because the last good set keeps serving, but `last_reload` shows
   * it until a reload succeeds.
   */
  private rulesCheck(): Record<string, unknown> {
    const holder = this.context.rules;
    const { ruleSet, mode } = holder.policy;
    const rejected = holder.rejected;
    return {
      status: 'ok',
      version: ruleSet.version,
      rules: ruleSet.rules.length,
      mode,
      loaded_at: new Date(holder.loadedAt).toISOString(),
      ...(holder.warnings.length > 0 ? { warnings: holder.warnings } : {}),
      ...(rejected
        ? { last_reload: { result: 'failure', at: new Date(rejected.at).toISOString(), errors: rejected.errors } }
        : {}),
    };
  }

  /**
   * Return the error of the log's failed writes, or undefined when it can be written. While
   * writes fail, each probe writes a line to try again, because an instance out of rotation
   * gets no logins whose lines could show that the disk has room again.
   */
  private checkLog(): NodeJS.ErrnoException | undefined {
    if (!this.context.logWriteFailure()) return undefined;
    // Written at any log.level, as decision lines are, so a quiet level cannot keep the failure.
    decisionLogger(this.context.logger).warn('readiness probe: trying the log again after a failed write');
    return this.context.logWriteFailure();
  }

  private checkStore(): Promise<CheckResult> {
    const now = Date.now();
    if (this.store && now - this.store.checkedAt < STORE_CHECK_MAX_AGE_MS) return Promise.resolve(this.store);
    const store = this.context.store;
    this.storeCheck ??= store
      .read({ now, counters: [], claims: [], lookups: [this.context.manual.keys.version] }, 'closed')
      .then(
        (): CheckResult => ({ ok: true, checkedAt: Date.now() }),
        // The read throws the message of a fail-closed login route, which would misreport a
        // fail-open gateway, so the report carries the store's own error instead.
        (error: unknown): CheckResult => ({ ok: false, checkedAt: Date.now(), error: store.lastError ?? messageOf(error) }),
      )
      .then((result) => {
        this.store = result;
        this.storeCheck = undefined;
        return result;
      });
    return this.storeCheck;
  }

  private checkUpstream(): Promise<CheckResult> {
    if (this.upstream && Date.now() - this.upstream.checkedAt < UPSTREAM_CHECK_MAX_AGE_MS) {
      return Promise.resolve(this.upstream);
    }
    this.upstreamCheck ??= connectOnce(this.context.upstream.url).then((result) => {
      this.upstream = result;
      this.upstreamCheck = undefined;
      return result;
    });
    return this.upstreamCheck;
  }
}

/** Open one TCP connection to the upstream and close it at once. */
function connectOnce(url: URL): Promise<CheckResult> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (error?: string) => {
      socket.destroy();
      resolve({ ok: error === undefined, checkedAt: Date.now(), ...(error ? { error } : {}) });
    };
    socket.setTimeout(UPSTREAM_CONNECT_TIMEOUT_MS, () => finish(`no connection within ${UPSTREAM_CONNECT_TIMEOUT_MS} ms`));
    socket.once('connect', () => finish());
    socket.once('error', (error: NodeJS.ErrnoException) => finish(`${error.code ?? 'error'}: ${error.message}`));
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import type { CounterDefinition } from '../rules/types.js';

/** Time a login keeps its in-flight mark past its longest wait for the app, once its client has gone. */
const RELEASE_MARGIN_MS = 1000;

type Entry = { counter: CounterDefinition; key: string };

/**
 * Logins of this process that have been judged but whose outcome is not yet written. The
 * store is read before a login is forwarded and written after the app answers, so without
 * this a burst of concurrent guesses would all read the same count and all pass. Pending
 * logins are added to the counts they are about to change: one per login on counted
 * counters, and one per distinct pending account on distinct-username counters.
 *
 * NOTE: this closes the race within one process only; logins in flight on other gateways
 * sharing a Redis store are not seen until their outcome is written.
 */
export class InFlightLogins {
  private readonly pending = new Map<string, number>();
  /** Pending accounts per distinct-username counter key, with how many logins each has pending. */
  private readonly members = new Map<string, Map<string, number>>();

  /**
   * Mark a login of `member` (the account pseudonym, if any) as pending on every counter
   * it may change. `extra()` returns what other pending logins add at that moment, by
   * index of `entries`. Call `release` just before the outcome's write is sent; it may be
   * called more than once.
   */
  begin(entries: readonly Entry[], member?: string): { extra: () => number[]; release: () => void } {
    const counted = entries.filter(({ counter }) => counts(counter)).map(({ key }) => key);
    const distinct = member === undefined ? [] : entries.filter(({ counter }) => isDistinct(counter)).map(({ key }) => key);
    for (const key of counted) this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    for (const key of distinct) this.addMember(key, member as string);

    let released = false;
    const extra = () => entries.map((entry) => this.extraFor(entry, member, released));
    const release = () => {
      if (released) return;
      released = true;
      for (const key of counted) {
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left <= 0) this.pending.delete(key);
        else this.pending.set(key, left);
      }
      for (const key of distinct) this.removeMember(key, member as string);
    };
    return { extra, release };
  }

  /**
   * Release `release` at the latest `upstreamWaitMs` and a second after `response` closes,
   * whatever happened. A login whose client hangs up still waits for the app's response
   * (up to the upstream timeouts) before its counters are written, and keeps its mark until
   * then.
   */
  static releaseOnClose(response: NodeJS.EventEmitter, release: () => void, upstreamWaitMs: number): void {
    response.once('close', () => setTimeout(release, upstreamWaitMs + RELEASE_MARGIN_MS).unref());
  }

  get size(): number {
    return this.pending.size + this.members.size;
  }

  private extraFor({ counter, key }: Entry, member: string | undefined, released: boolean): number {
    if (isDistinct(counter)) {
      // Other accounts only: this login's own account, pending twice or already in the
      // store, would otherwise count again.
      const accounts = this.members.get(key);
      if (!accounts) return 0;
      return member !== undefined && accounts.has(member) ? accounts.size - 1 : accounts.size;
    }
    if (!counts(counter)) return 0;
    const marks = this.pending.get(key) ?? 0;
    return released ? marks : Math.max(0, marks - 1);
  }

  private addMember(key: string, member: string): void {
    let accounts = this.members.get(key);
    if (!accounts) {
      accounts = new Map();
      this.members.set(key, accounts);
    }
    accounts.set(member, (accounts.get(member) ?? 0) + 1);
  }

  private removeMember(key: string, member: string): void {
    const accounts = this.members.get(key);
    if (!accounts) return;
    const left = (accounts.get(member) ?? 1) - 1;
    if (left > 0) accounts.set(member, left);
    else accounts.delete(member);
    if (accounts.size === 0) this.members.delete(key);
  }
}

/**
 * Whether pending logins count toward a counter. Every pending login is an attempt, and one
 * pending on an account may turn out a failure. Failure counters not keyed by the account
 * (address, network, fingerprint) are left out, because many honest logins can be in flight
 * at once behind one shared address or browser. A burst of stuffing from one address is
 * caught by its attempts and distinct usernames instead.
 */
function counts(counter: CounterDefinition): boolean {
  if (counter.count === 'attempts') return true;
  return counter.count === 'failures' && counter.key.includes('username');
}

function isDistinct(counter: CounterDefinition): boolean {
  return counter.count === 'distinct_usernames';
}

const registries = new WeakMap<object, InFlightLogins>();

/** The in-flight registry of one gateway, keyed by an object the gateway owns. */
export function inFlightFor(owner: object): InFlightLogins {
  let registry = registries.get(owner);
  if (!registry) {
    registry = new InFlightLogins();
    registries.set(owner, registry);
  }
  return registry;
}

import type { CounterDefinition } from '../rules/types.js';

/** Longest a login holds its in-flight mark after its response closed without a store write. */
const RELEASE_AFTER_CLOSE_MS = 1000;

/**
 * Logins of this process that have been judged but whose outcome is not yet written. The
 * store is read before a login is forwarded and written after the app answers, so without
 * this a burst of concurrent guesses would all read the same count and all pass. Pending
 * logins are added to the counts they are about to change.
 *
 * NOTE: this closes the race within one process only; logins in flight on other gateways
 * sharing a Redis store are not seen until their outcome is written.
 */
export class InFlightLogins {
  private readonly pending = new Map<string, number>();

  /**
   * Mark a login as pending on every counter it may change. `extra()` returns the counts
   * that other pending logins add at that moment, by index of `entries`. Call `release`
   * just before the outcome's write is sent; it may be called more than once.
   */
  begin(entries: readonly { counter: CounterDefinition; key: string }[]): { extra: () => number[]; release: () => void } {
    const keys = entries.filter(({ counter }) => counts(counter)).map(({ key }) => key);
    for (const key of keys) this.pending.set(key, (this.pending.get(key) ?? 0) + 1);

    let released = false;
    const extra = () =>
      entries.map(({ counter, key }) => {
        if (!counts(counter)) return 0;
        const marks = this.pending.get(key) ?? 0;
        return released ? marks : Math.max(0, marks - 1);
      });
    const release = () => {
      if (released) return;
      released = true;
      for (const key of keys) {
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left <= 0) this.pending.delete(key);
        else this.pending.set(key, left);
      }
    };
    return { extra, release };
  }

  /** Release `release` at the latest shortly after `response` closes, whatever happened. */
  static releaseOnClose(response: NodeJS.EventEmitter, release: () => void): void {
    response.once('close', () => setTimeout(release, RELEASE_AFTER_CLOSE_MS).unref());
  }

  get size(): number {
    return this.pending.size;
  }
}

/**
 * Whether pending logins count toward a counter. Every pending login is an attempt, and one
 * pending on an account may turn out a failure. Address-only failure counters are left out:
 * many honest logins can be in flight at once behind one shared address.
 */
function counts(counter: CounterDefinition): boolean {
  if (counter.count === 'attempts') return true;
  return counter.count === 'failures' && counter.key.includes('username');
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

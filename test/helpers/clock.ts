/**
 * A clock that moves only when a test moves it. It starts on a whole hour, where every
 * default counter window (1m, 10m, 15m) begins a bucket, so counts read at the start carry
 * no share of an earlier bucket.
 */
export class FakeClock {
  now: number;

  constructor(start = Math.floor(Date.now() / 3_600_000) * 3_600_000) {
    this.now = start;
  }

  /** The function to pass as the gateway's `clock` option. */
  readonly read = (): number => this.now;

  advance(ms: number): void {
    this.now += ms;
  }
}

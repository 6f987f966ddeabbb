const WIDTH = 30;
const MIN_INTERVAL_MS = 200;

/**
 * A one-line progress bar for a terminal: the share of input bytes read, the logins so far
 * and the rate, redrawn at most five times a second and erased when done.
 */
export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;
  private readonly started = performance.now();

  constructor(
    private readonly totalBytes: number,
    private readonly write: (text: string) => void,
  ) {}

  update(bytesRead: number, events: number): void {
    const now = performance.now();
    if (now - this.lastDraw < MIN_INTERVAL_MS) return;
    this.lastDraw = now;
    this.drawn = true;

    const fraction = this.totalBytes > 0 ? Math.min(1, bytesRead / this.totalBytes) : 0;
    const filled = Math.round(fraction * WIDTH);
    const rate = Math.round(events / Math.max(0.001, (now - this.started) / 1000));
    const bar = `${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}`;
    this.write(`\r[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${events.toLocaleString('en-US')} logins  ${rate.toLocaleString('en-US')}/s `);
  }

  done(): void {
    if (this.drawn) this.write(`\r${' '.repeat(WIDTH + 60)}\r`);
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Where the tests look for Chromium: RISKGATE_TEST_CHROMIUM alone when set, else Debian's and Ubuntu's paths. */
export const CHROMIUM_PATHS = process.env.RISKGATE_TEST_CHROMIUM !== undefined
  ? [process.env.RISKGATE_TEST_CHROMIUM]
  : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Maximum wait in ms for one DevTools command or page condition. */
const COMMAND_TIMEOUT_MS = 15_000;

/** Return the first Chromium binary that exists, or undefined when there is none. */
export function findChromium(): string | undefined {
  return CHROMIUM_PATHS.find((path) => path !== '' && existsSync(path));
}

interface Pending {
  resolve: (result: Record<string, any>) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A headless Chromium driven over the DevTools protocol. Commands travel on the pipe that
 * --remote-debugging-pipe opens (Chromium reads fd 3 and writes fd 4, one JSON message per
 * NUL-terminated frame), so no WebSocket client and no browser download are needed.
 */
export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profileDirectory: string,
  ) {
    const output = child.stdio[4] as Readable;
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => this.receive(chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => this.failPending(new Error(`Chromium exited:\n${this.stderr}`)));
  }

  /** Start Chromium headless with a fresh profile and its background network traffic turned off. */
  static async launch(executable: string): Promise<Chromium> {
    const profileDirectory = mkdtempSync(join(tmpdir(), 'riskgate-chromium-'));
    const child = spawn(executable, [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profileDirectory}`,
      '--remote-debugging-pipe',
      'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new Chromium(child, profileDirectory);
    await browser.send('Browser.getVersion');
    return browser;
  }

  /** Send one DevTools command, to the browser or to the page of `sessionId`, and return its result. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, any>> {
    const id = this.nextId++;
    const message = JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`DevTools command ${method} timed out after ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      (this.child.stdio[3] as Writable).write(`${message}\0`);
    });
  }

  /** Open a new tab and attach to it. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    return new Page(this, sessionId);
  }

  /** Close the browser, kill it if it does not exit within 5 s, and delete its profile. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.send('Browser.close').catch(() => undefined);
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killer);
    }
    rmSync(this.profileDirectory, { recursive: true, force: true });
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf('\0');
    while (end !== -1) {
      const message = JSON.parse(this.buffered.slice(0, end));
      this.buffered = this.buffered.slice(end + 1);
      end = this.buffered.indexOf('\0');

      // Messages without an id are events, which these tests do not need.
      const waiting = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiting) continue;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.error) waiting.reject(new Error(`DevTools error: ${message.error.message}`));
      else waiting.resolve(message.result);
    }
  }

  private failPending(error: Error): void {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    this.pending.clear();
  }
}

/** One tab: navigation, script evaluation, and typing and clicking as input events. */
export class Page {
  constructor(
    private readonly browser: Chromium,
    private readonly sessionId: string,
  ) {}

  private send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, any>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Replace the user agent and Accept-Language of every request the tab sends. */
  async setUserAgent(userAgent: string, acceptLanguage: string): Promise<void> {
    await this.send('Network.setUserAgentOverride', { userAgent, acceptLanguage });
  }

  /** Navigate and wait until the document has loaded. */
  async goto(url: string): Promise<void> {
    const result = await this.send('Page.navigate', { url });
    if (result.errorText) throw new Error(`navigation to ${url} failed: ${result.errorText}`);
    await this.waitFor(`document.readyState === 'complete' && location.href === ${JSON.stringify(url)}`, `${url} loaded`);
  }

  /** Evaluate an expression in the page, awaiting a promise, and return its value as JSON. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const reply = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (reply.exceptionDetails) {
      const description = reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text;
      throw new Error(`page script failed: ${description}`);
    }
    return reply.result.value as T;
  }

  /**
   * Poll an expression until it is truthy and return its value. Errors count as not yet,
   * because evaluation fails while a navigation replaces the document.
   */
  async waitFor<T = unknown>(expression: string, description: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    while (Date.now() < deadline) {
      try {
        const value = await this.evaluate<T>(expression);
        if (value) return value;
      } catch (error) {
        lastError = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${lastError ? ` (${lastError})` : ''}`);
  }

  /** Replace the value of an input with `text`, typed as the browser's own text input. */
  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(`(() => {
      const input = document.querySelector(${JSON.stringify(selector)});
      if (!input) throw new Error(${JSON.stringify(`no element matches ${selector}`)});
      input.focus();
      input.select();
    })()`);
    await this.send('Input.insertText', { text });
  }

  /** Click the middle of an element with mouse events, after scrolling it into view. */
  async click(selector: string): Promise<void> {
    const { x, y } = await this.evaluate<{ x: number; y: number }>(`(() => {
      const element = document.querySelector(${JSON.stringify(selector)});
      if (!element) throw new Error(${JSON.stringify(`no element matches ${selector}`)});
      element.scrollIntoView({ block: 'center' });
      const box = element.getBoundingClientRect();
      return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    })()`);
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
    }
  }
}

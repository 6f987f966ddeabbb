import { BROWSER_HEADERS, send, startTestGateway, type Reply } from '../helpers/gateway.js';
import { FakeClock } from '../helpers/clock.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitForDecisions } from '../helpers/wait.js';
import type { Label } from '../../src/replay/event.js';

export interface RecordedTraffic {
  /** Every line the gateway logged, as written. */
  logText: string;
  /** Parsed decision lines, in request order. */
  decisions: Record<string, any>[];
  /** The label of each decision line, by the script's intent. */
  labels: Label[];
}

interface Attempt {
  user: string;
  password: string;
  source: string;
  label: Label;
  headers?: Record<string, string>;
  /** Send the device cookie this user was given, and keep the one it is given now. */
  device?: boolean;
}

/**
 * Run a scripted mix of logins through a real gateway in front of a real upstream, on a fake
 * clock, and return its log: ordinary logins with device cookies, a device velocity burst,
 * a credential-stuffing run from one address and from its /24, a password guess on one
 * account from many addresses, a tool user agent, logins after the windows have passed,
 * and a burst faster than a person types. Each login waits for its decision line before
 * the next starts, so every store write lands before the next read, as replay assumes.
 */
export async function recordTraffic(rulePath: string): Promise<RecordedTraffic> {
  const upstream = await new RecordingUpstream().start();
  // A future start keeps the store's wall-clock sweep from expiring fake-clock entries.
  const clock = new FakeClock(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
  const gateway = await startTestGateway({ upstream: upstream.url, clock: clock.read, config: { rules: [rulePath] } });
  const labels: Label[] = [];
  const cookies = new Map<string, string>();

  const attempt = async (step: Attempt): Promise<Reply> => {
    const cookie = step.device ? cookies.get(step.user) : undefined;
    const reply = await send(gateway.port, {
      method: 'POST',
      path: '/login',
      source: step.source,
      headers: {
        ...(step.headers ?? BROWSER_HEADERS),
        'content-type': 'application/json',
        ...(cookie ? { cookie } : {}),
      },
      body: JSON.stringify({ username: step.user, password: step.password }),
    });
    labels.push(step.label);
    await waitForDecisions(gateway.logs, labels.length);
    const issued = reply.headers['set-cookie']?.[0]?.split(';')[0];
    if (step.device && issued) cookies.set(step.user, issued);
    return reply;
  };

  try {
    for (let index = 0; index < 30; index += 1) {
      const password = index % 7 === 3 ? 'typo' : 'wonderland';
      await attempt({ user: `user${index % 10}`, password, source: `127.0.0.${10 + (index % 10)}`, label: 'legitimate', device: true });
      clock.advance(7_000);
    }
    for (let index = 0; index < 5; index += 1) {
      await attempt({ user: 'user0', password: 'wonderland', source: '127.0.0.10', label: 'legitimate', device: true });
      clock.advance(2_000);
    }
    for (let index = 0; index < 25; index += 1) {
      await attempt({ user: `victim${index}`, password: 'guess', source: '127.0.1.1', label: 'attack' });
      clock.advance(1_000);
    }
    for (let index = 0; index < 16; index += 1) {
      await attempt({ user: `spread${index}`, password: 'guess', source: `127.0.1.${2 + (index >> 1)}`, label: 'attack' });
      clock.advance(1_000);
    }
    for (let index = 0; index < 8; index += 1) {
      await attempt({ user: 'carol', password: `guess${index}`, source: `127.0.3.${1 + index}`, label: 'attack' });
      clock.advance(3_000);
    }
    for (let index = 0; index < 4; index += 1) {
      await attempt({ user: `bot${index}`, password: 'guess', source: '127.0.5.1', label: 'attack', headers: { 'user-agent': 'python-requests/2.31' } });
      clock.advance(5_000);
    }
    clock.advance(20 * 60_000);
    await attempt({ user: 'dave', password: 'wonderland', source: '127.0.1.1', label: 'legitimate' });
    await attempt({ user: 'carol', password: 'wonderland', source: '127.0.0.50', label: 'legitimate' });
    for (let index = 0; index < 3; index += 1) {
      await attempt({ user: `user${index}`, password: 'wonderland', source: `127.0.0.${10 + index}`, label: 'legitimate', device: true });
      clock.advance(30_000);
    }
    for (let index = 0; index < 22; index += 1) {
      await attempt({ user: 'erin', password: index % 2 === 0 ? 'guess' : 'wonderland', source: '127.0.4.1', label: 'attack' });
      clock.advance(100);
    }
  } finally {
    await gateway.close();
    await upstream.stop();
  }

  return { logText: gateway.logs.text, decisions: gateway.logs.decisions, labels };
}

/** The log as NDJSON with each decision line carrying its label as riskgate.label. */
export function labelledLog(traffic: RecordedTraffic): string {
  let index = 0;
  const lines = traffic.logText.split('\n').filter((line) => line.trim() !== '').map((line) => {
    const parsed = JSON.parse(line);
    if (parsed.message !== 'login decision') return line;
    parsed.riskgate.label = traffic.labels[index];
    index += 1;
    return JSON.stringify(parsed);
  });
  return `${lines.join('\n')}\n`;
}

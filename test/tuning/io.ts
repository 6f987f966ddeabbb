import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';

import type { Output } from '../../src/cli/rule-paths.js';

/** Output streams of a tuning command, collected as text. */
export interface CapturedOutput {
  io: Output;
  out(): string;
  err(): string;
  lines(): string[];
}

/** Capture what a command writes; `input` is what it reads on standard input. */
export function captureOutput(input = ''): CapturedOutput {
  let out = '';
  let err = '';
  return {
    io: {
      out: (text) => {
        out += text;
      },
      err: (text) => {
        err += text;
      },
      errIsTTY: false,
      input: Readable.from([Buffer.from(input)]),
    },
    out: () => out,
    err: () => err,
    lines: () => out.split('\n').filter((line) => line !== ''),
  };
}

/** Create a temporary directory holding the given files (paths relative to it). */
export function writeTree(files: Record<string, string>): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'riskgate-tuning-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The start of a rule file: thresholds and one attempts counter named `hits`. */
export const COUNTER_HEADER = `thresholds:
  challenge_at: 50
  block_at: 100
counters:
  - name: hits
    key: [ip]
    count: attempts
    window: 1m
`;

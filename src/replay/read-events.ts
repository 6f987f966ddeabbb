import { createReadStream, statSync, type ReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { CsvParser, eventFromCsvRow, readCsvHeader, type CsvOptions } from './csv.js';
import { DECISION_MESSAGE, eventFromDecisionLine } from './decision-line.js';
import type { LoginEvent } from './event.js';
import { mergeByTime, orderByTime } from './order.js';

/** Most invalid lines quoted in a summary; the rest are only counted. */
const MAX_QUOTED_ERRORS = 10;

/** How far out of order lines of one file may be and still be replayed in order. */
export const DEFAULT_REORDER_WINDOW_MS = 120_000;

export interface InputStats {
  files: number;
  /** Lines (NDJSON) or rows (CSV) read. */
  lines: number;
  events: number;
  /** Log lines that are not login decisions, such as start-up lines. */
  skipped: number;
  invalid: number;
  /** The first invalid lines, as `file:line: message`. */
  errors: string[];
}

export interface ReadOptions {
  csv: CsvOptions;
  reorderWindowMs?: number;
}

/**
 * Read login events from riskgate decision logs (NDJSON) and CSV files, decompressing
 * names that end in .gz, and yield them in event-time order: each file is reordered within
 * a window, then the files are merged by time.
 */
export class EventReader {
  readonly stats: InputStats = { files: 0, lines: 0, events: 0, skipped: 0, invalid: 0, errors: [] };
  readonly totalBytes: number;
  private readonly streams: ReadStream[] = [];

  constructor(
    private readonly files: readonly string[],
    private readonly options: ReadOptions,
  ) {
    this.totalBytes = files.reduce((total, file) => total + statSync(file).size, 0);
    this.stats.files = files.length;
  }

  /** Bytes read so far from the files as stored (compressed, for .gz). */
  get bytesRead(): number {
    return this.streams.reduce((total, stream) => total + stream.bytesRead, 0);
  }

  events(): AsyncGenerator<LoginEvent> {
    const window = this.options.reorderWindowMs ?? DEFAULT_REORDER_WINDOW_MS;
    return mergeByTime(this.files.map((file) => orderByTime(this.readFile(file), window)));
  }

  private async *readFile(file: string): AsyncGenerator<LoginEvent> {
    const raw = createReadStream(file);
    this.streams.push(raw);
    const input: Readable = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
    raw.on('error', (error) => input.destroy(error));
    const csv = /\.csv(\.gz)?$/i.test(file);
    yield* csv ? this.readCsv(file, input) : this.readDecisionLog(file, input);
  }

  private async *readDecisionLog(file: string, input: Readable): AsyncGenerator<LoginEvent> {
    const lines = createInterface({ input, crlfDelay: Infinity });
    let number = 0;
    for await (const line of lines) {
      number += 1;
      this.stats.lines += 1;
      // Cheap test first: most of a log can be other lines, and JSON.parse is the cost.
      if (!line.includes(DECISION_MESSAGE)) {
        if (line.trim() !== '') this.stats.skipped += 1;
        continue;
      }
      let parsed: Record<string, any>;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.invalid(file, number, 'not a JSON line');
        continue;
      }
      if (parsed.message !== DECISION_MESSAGE) {
        this.stats.skipped += 1;
        continue;
      }
      const event = eventFromDecisionLine(parsed, `${file}:${number}`);
      if ('error' in event) {
        this.invalid(file, number, event.error);
        continue;
      }
      this.stats.events += 1;
      yield event;
    }
  }

  private async *readCsv(file: string, input: Readable): AsyncGenerator<LoginEvent> {
    const parser = new CsvParser();
    let columns: Map<string, number> | undefined;
    input.setEncoding('utf8');
    const chunks = async function* () {
      for await (const chunk of input) yield parser.push(chunk as string);
      yield parser.end();
    };

    for await (const records of chunks()) {
      for (const record of records) {
        if (!columns) {
          const header = readCsvHeader(record.fields.map((field) => field.replace(/^\uFEFF/, '')));
          if (header.error) {
            this.invalid(file, record.line, header.error);
            input.destroy();
            return;
          }
          columns = header.columns;
          continue;
        }
        if (record.fields.length === 1 && record.fields[0].trim() === '') continue;
        this.stats.lines += 1;
        const event = eventFromCsvRow(record, columns, this.options.csv, `${file}:${record.line}`);
        if ('error' in event) {
          this.invalid(file, record.line, event.error);
          continue;
        }
        this.stats.events += 1;
        yield event;
      }
    }
  }

  private invalid(file: string, line: number, message: string): void {
    this.stats.invalid += 1;
    if (this.stats.errors.length < MAX_QUOTED_ERRORS) this.stats.errors.push(`${file}:${line}: ${message}`);
  }
}

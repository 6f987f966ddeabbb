import { readFileSync } from 'node:fs';
import { Document, LineCounter, isMap, isNode, isScalar, parseDocument } from 'yaml';

import type { SourceProblem } from '../errors.js';

/** A parsed YAML file that can point back at the line and column of any value in it. */
export interface YamlSource {
  file: string;
  /** The file's text as parsed, so callers can map a value's offset back to a column. */
  text: string;
  value: unknown;
  document: Document;
  problems: SourceProblem[];
  /** Return the position of the value at `path`, or of its nearest existing parent. */
  locate(path: readonly (string | number)[]): { line: number; column: number };
  /** Return the position of the key that ends `path` (for an unknown key), else as `locate`. */
  locateKey(path: readonly (string | number)[]): { line: number; column: number };
  /** Build a problem located at `path`. */
  problemAt(path: readonly (string | number)[], message: string): SourceProblem;
}

/** Read and parse one YAML file; syntax errors come back as problems, never as a throw. */
export function readYamlSource(file: string, text?: string): YamlSource {
  const content = text ?? readFileSync(file, 'utf8');
  const lineCounter = new LineCounter();
  const document = parseDocument(content, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: SourceProblem[] = [];

  for (const error of [...document.errors, ...document.warnings]) {
    const offset = error.pos[0];
    const position = lineCounter.linePos(offset);
    problems.push({
      file,
      line: position.line,
      column: position.col,
      message: `invalid YAML: ${firstLine(error.message)}${tagHint(error.code)}`,
    });
  }

  const locate = (path: readonly (string | number)[]) => locateIn(document, lineCounter, path);
  const locateKey = (path: readonly (string | number)[]) =>
    locateKeyIn(document, lineCounter, path) ?? locate(path);
  const value = document.errors.length > 0 ? undefined : document.toJS({ maxAliasCount: 100 });

  return {
    file,
    text: content,
    value,
    document,
    problems,
    locate,
    locateKey,
    problemAt: (path, message) => ({ file, ...locate(path), message }),
  };
}

function locateIn(
  document: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): { line: number; column: number } {
  for (let length = path.length; length >= 0; length -= 1) {
    const node = length === 0 ? document.contents : document.getIn(path.slice(0, length), true);
    if (isNode(node) && node.range) {
      const position = lineCounter.linePos(node.range[0]);
      return { line: position.line, column: position.col };
    }
  }
  return { line: 1, column: 1 };
}

// A value that is a nested mapping starts on the line after its key, so an unknown key
// located by its value would point one line too far.
function locateKeyIn(
  document: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): { line: number; column: number } | undefined {
  if (path.length === 0) return undefined;
  const parent = path.length === 1 ? document.contents : document.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const name = path[path.length - 1];
  const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === name);
  const key = pair?.key;
  if (!isNode(key) || !key.range) return undefined;
  const position = lineCounter.linePos(key.range[0]);
  return { line: position.line, column: position.col };
}

// YAML reads a plain value that starts with `!`, such as a status exclusion !429, as a tag.
function tagHint(code: string): string {
  return code === 'TAG_RESOLVE_FAILED' ? '; quote a value that starts with "!", such as "!429"' : '';
}

function firstLine(message: string): string {
  const end = message.indexOf('\n');
  return end === -1 ? message : message.slice(0, end);
}

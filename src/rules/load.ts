import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { Ajv } from 'ajv';

import { parseDurationMs } from '../config/duration.js';
import type { SourceProblem } from '../errors.js';
import { readYamlSource, type YamlSource } from '../config/yaml-source.js';
import { readRegularTextFile } from '../config/regular-file.js';
import { RULE_FILE_SCHEMA } from './schema.js';
import type { CounterDefinition, RuleDefinition, RuleTestCase, Thresholds } from './types.js';

/** The parsed, not yet compiled, contents of every rule file. */
export interface RuleSource {
  files: string[];
  /** Hash of every file's name and content, in load order; see RuleSet.version. */
  version: string;
  thresholds: Thresholds;
  counters: CounterDefinition[];
  rules: RuleDefinition[];
  tests: RuleTestCase[];
  problems: SourceProblem[];
  /** Each rule file's parsed YAML, to locate a rule's `when` for CEL errors. */
  sources: Map<string, YamlSource>;
  /** IP list files the rule files name, by list name: absolute path and where it was named. */
  lists: Map<string, { path: string; file: string; line: number }>;
}

export const DEFAULT_THRESHOLDS: Thresholds = Object.freeze({ challengeAt: 50, blockAt: 100 });

const ajv = new Ajv({ allErrors: true, strict: true });
const validateRuleFile = ajv.compile(RULE_FILE_SCHEMA);

/** List the rule files a set of paths names: files as given, directories' *.yaml and *.yml sorted. */
export function listRuleFiles(paths: readonly string[]): { files: string[]; problems: SourceProblem[] } {
  const files: string[] = [];
  const problems: SourceProblem[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      problems.push({
        file: path,
        line: 1,
        column: 1,
        message: 'rule path not found: set the config\'s rules key to existing rule files or directories, ' +
          'relative to the config file',
      });
      continue;
    }
    if (!isDirectory) {
      files.push(path);
      continue;
    }
    const entries = readdirSync(path).filter((name) => /\.ya?ml$/.test(name)).sort();
    files.push(...entries.map((name) => join(path, name)));
  }
  if (files.length === 0 && problems.length === 0) {
    problems.push({ file: paths.join(', '), line: 1, column: 1, message: 'no rule files (*.yaml) found' });
  }
  return { files, problems };
}

/** Read and structurally check every rule file; problems are collected, never thrown. */
export function readRuleSource(paths: readonly string[]): RuleSource {
  const { files, problems } = listRuleFiles(paths);
  const hash = createHash('sha256');
  const result: RuleSource = {
    files,
    version: '',
    thresholds: DEFAULT_THRESHOLDS,
    counters: [],
    rules: [],
    tests: [],
    problems,
    sources: new Map(),
    lists: new Map(),
  };
  let thresholdsFile: string | undefined;

  for (const file of files) {
    // A file listed a moment ago can vanish before it is read, as when an editor replaces it.
    let text: string;
    try {
      text = readRegularTextFile(file);
    } catch (error) {
      problems.push({ file, line: 1, column: 1, message: `rule file could not be read: ${(error as Error).message}` });
      continue;
    }
    // The name without its folder, so one rule set has one version wherever it is installed.
    hash.update(basename(file)).update('\u0000').update(text).update('\u0000');
    const source = readYamlSource(file, text);
    result.sources.set(file, source);
    problems.push(...source.problems);
    if (source.problems.length > 0) continue;
    // A `>` redirect or a writer that crashed leaves an empty or cut-off file. Loading it
    // would drop that file's rules without a word, so it is an error like any other.
    if (source.value == null) {
      problems.push({ file, line: 1, column: 1,
        message: 'rule file is empty (no YAML content): restore its rules, or delete the file to drop its rules' });
      continue;
    }

    if (!validateRuleFile(source.value)) {
      for (const error of validateRuleFile.errors ?? []) {
        const path = error.instancePath.split('/').slice(1).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
        const extra = error.keyword === 'additionalProperties' ? String(error.params.additionalProperty) : undefined;
        const where = extra ? [...path, extra] : path;
        const key = where.join('.') || 'the file';
        const detail = extra ? `unknown key "${extra}"` : `${key} ${error.message}`;
        const duration = error.keyword === 'pattern' && ['window', 'retry_after'].includes(String(path.at(-1)));
        const message = error.keyword === 'enum'
          ? `${key} must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`
          : duration ? `${key} must be a duration such as 30s, 10m or 1h` : detail;
        problems.push({ file, ...(extra ? source.locateKey(where) : source.locate(where)), message });
      }
      continue;
    }

    const document = source.value as Record<string, any>;
    if (!(document.rules?.length > 0) && !(document.counters?.length > 0)) {
      problems.push({ file, ...source.locate([]),
        message: 'rule file has no rules and no counters, as an empty or cut-off file has: ' +
          'restore its rules, or delete the file to drop its rules' });
      continue;
    }
    for (const [name, path] of Object.entries((document.lists ?? {}) as Record<string, string>)) {
      const earlier = result.lists.get(name);
      if (earlier) {
        problems.push(source.problemAt(['lists', name], `IP list "${name}" is already named in ${earlier.file}:${earlier.line}; name it in one file`));
      }
      result.lists.set(name, { path: resolve(dirname(file), path), file, line: source.locate(['lists', name]).line });
    }
    if (document.thresholds) {
      if (thresholdsFile) {
        problems.push(source.problemAt(['thresholds'], `thresholds are already set in ${thresholdsFile}; set them in one file`));
      }
      thresholdsFile = file;
      result.thresholds = { challengeAt: document.thresholds.challenge_at, blockAt: document.thresholds.block_at };
      if (result.thresholds.challengeAt >= result.thresholds.blockAt) {
        problems.push(source.problemAt(['thresholds', 'challenge_at'],
          `challenge_at (${result.thresholds.challengeAt}) must be below block_at (${result.thresholds.blockAt})`));
      }
    }

    (document.counters ?? []).forEach((counter: any, index: number) => {
      result.counters.push({
        name: counter.name,
        key: counter.key,
        count: counter.count,
        windowMs: parseDurationMs(counter.window),
        file,
        line: source.locate(['counters', index]).line,
      });
    });

    (document.rules ?? []).forEach((rule: any, index: number) => {
      if (rule.score === undefined && rule.action === undefined) {
        problems.push(source.problemAt(['rules', index], `rule "${rule.id}" needs a score or an action`));
      }
      result.rules.push({
        id: rule.id,
        description: rule.description,
        when: rule.when,
        score: rule.score ?? 0,
        action: rule.action,
        retryAfterMs: rule.retry_after ? parseDurationMs(rule.retry_after) : undefined,
        mode: rule.mode ?? 'enforce',
        tags: rule.tags ?? [],
        file,
        line: source.locate(['rules', index]).line,
      });
    });

    (document.tests ?? []).forEach((test: any, index: number) => {
      result.tests.push({
        name: test.name,
        signals: test.signals ?? {},
        expect: test.expect,
        file,
        line: source.locate(['tests', index]).line,
      });
    });
  }

  checkUnique(result, problems);
  result.version = hash.digest('hex').slice(0, 12);
  return result;
}

function checkUnique(result: RuleSource, problems: SourceProblem[]): void {
  const counters = new Map<string, CounterDefinition>();
  for (const counter of result.counters) {
    const earlier = counters.get(counter.name);
    if (earlier) {
      problems.push({ file: counter.file, line: counter.line, column: 5,
        message: `duplicate counter name "${counter.name}" (first declared at ${earlier.file}:${earlier.line})` });
    }
    counters.set(counter.name, counter);
  }

  const rules = new Map<string, RuleDefinition>();
  for (const rule of result.rules) {
    const earlier = rules.get(rule.id);
    if (earlier) {
      problems.push({ file: rule.file, line: rule.line, column: 5,
        message: `duplicate rule id "${rule.id}" (first defined at ${earlier.file}:${earlier.line})` });
    }
    rules.set(rule.id, rule);
  }
}

import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

import { loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { readYamlSource } from '../config/yaml-source.js';
import { RiskgateError, type SourceProblem } from '../errors.js';
import { compileRuleSource, type RuleSet } from '../rules/compile.js';
import { readRuleSource, type RuleSource } from '../rules/load.js';

export type Values = Record<string, string | boolean | undefined>;

/** Where a tuning command writes; tests pass collectors, the CLI passes the process streams. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when `err` is a terminal, so a progress bar may be drawn on it. */
  errIsTTY: boolean;
  /** Standard input, for commands that read an event from it. */
  input: AsyncIterable<Buffer | string>;
}

export const STDIO: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  input: process.stdin,
  get errIsTTY() {
    return process.stderr.isTTY === true;
  },
};

// The tuning commands only read files; RISKGATE_SECRET keys a running gateway, not them.
const PLACEHOLDER_SECRET = 'riskgate-check-placeholder-secret-000000';

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const shown = relative(process.cwd(), file);
  return shown === '' || shown.startsWith('..') ? file : shown;
}

/** The config file a command names: --config, else $RISKGATE_CONFIG, else ./riskgate.yaml. */
export function configFileOf(values: Values): { file: string; explicit: boolean } {
  const named = (values.config as string | undefined) ?? process.env.RISKGATE_CONFIG;
  return { file: resolve(named ?? 'riskgate.yaml'), explicit: named !== undefined };
}

export interface ConfigReading {
  file: string;
  config?: GatewayConfig;
  /** Rule paths from the config, or from its raw `rules` key when the rest is invalid. */
  rulePaths: string[];
  problems: SourceProblem[];
}

/** Load a config file for a tuning command, collecting its problems instead of throwing. */
export function readConfig(file: string): ConfigReading {
  const secret = process.env.RISKGATE_SECRET ?? PLACEHOLDER_SECRET;
  try {
    const config = loadConfigFile(file, { secret: secret.length >= 32 ? secret : PLACEHOLDER_SECRET });
    return { file, config, rulePaths: [...config.rulePaths], problems: [] };
  } catch (error) {
    if (!(error instanceof RiskgateError)) throw error;
    const problems = error.problems.length > 0
      ? [...error.problems]
      : [{ file, line: 1, column: 1, message: error.message }];
    return { file, rulePaths: rawRulePaths(file), problems };
  }
}

/**
 * Rule paths for test, explain and replay: the given paths, else the config's rules when a
 * config is named or ./riskgate.yaml exists, else ./rules.
 */
export function resolveRulePaths(values: Values, given: readonly string[] = []): ConfigReading {
  if (given.length > 0) {
    return { file: '', rulePaths: given.map((path) => resolve(path)), problems: [] };
  }
  const { file, explicit } = configFileOf(values);
  if (explicit || existsSync(file)) {
    return readConfig(file);
  }
  return { file: '', rulePaths: [resolve('rules')], problems: [] };
}

/** The `rules` list of a config that failed validation elsewhere, so its rules still get checked. */
function rawRulePaths(file: string): string[] {
  if (!existsSync(file)) return [];
  const source = readYamlSource(file);
  if (typeof source.value !== 'object' || source.value === null) return [];
  const rules = (source.value as { rules?: unknown }).rules ?? ['rules'];
  if (!Array.isArray(rules) || !rules.every((path) => typeof path === 'string')) return [];
  return rules.map((path) => resolve(dirname(file), path));
}

/** Read and compile rule files with the config's IP lists, as start does; never throws on bad rules. */
export function compileRules(
  paths: readonly string[],
  config?: GatewayConfig,
): { source: RuleSource; ruleSet?: RuleSet; problems: SourceProblem[] } {
  const source = readRuleSource(paths);
  return { source, ...compileRuleSource(source, { ipLists: config?.ipLists }) };
}

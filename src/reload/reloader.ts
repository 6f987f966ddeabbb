import { statSync } from 'node:fs';

import type { GatewayConfig } from '../config/types.js';
import { RiskgateError, formatProblem, sortProblems, type SourceProblem } from '../errors.js';
import type { GatewayContext, LivePolicy } from '../proxy/context.js';
import { compileRuleSource, type RuleSet } from '../rules/compile.js';
import { readRuleSource } from '../rules/load.js';
import { findUnreachableRules } from '../rules/reachability.js';
import { restartRequiredKeys } from './config-changes.js';
import { restartedCounters } from './counter-changes.js';
import { emptiedIpLists } from './emptied-lists.js';
import type { WatchPaths } from './file-watcher.js';

/** Source of a reload: SIGHUP, the file watcher, or a direct call from code such as a test. */
export type ReloadTrigger = 'SIGHUP' | 'file' | 'call';

export interface ReloadResult {
  /** `unchanged` when the files read give the rule set and mode already in force. */
  outcome: 'reloaded' | 'unchanged' | 'rejected';
  /** The rule-set version in force after the attempt. */
  version: string;
  previousVersion: string;
  problems: SourceProblem[];
  /** The warnings `riskgate check` prints for the rule set in force after a successful reload. */
  warnings: string[];
  /** Config keys that changed but apply only after a restart. */
  restartRequired: string[];
}

export interface ReloaderOptions {
  /**
   * Read and validate the config file again. Without it (the demo's embedded config) a
   * reload reads only the rule files and IP lists that the start-up config names.
   */
  loadConfig?: () => GatewayConfig;
  /** Receives the paths each attempt read, so that the file watcher can follow them. */
  onPaths?: (paths: WatchPaths) => void;
}

/** Maximum number of problems or warnings one reload line lists; the counts include them all. */
const MAX_LOGGED_PROBLEMS = 50;

interface Candidate {
  config?: GatewayConfig;
  ruleSet?: RuleSet;
  problems: SourceProblem[];
  /** The rule warnings of `riskgate check`, formatted as `file:line:column: message`. */
  warnings: string[];
  paths: WatchPaths;
}

/**
 * Reloads the rule files, IP lists and config, and swaps in the result only when all of
 * them are valid. Everything runs synchronously, so no login is scored while the swap is
 * half done. Rejections, swaps and every SIGHUP are logged and counted in
 * `riskgate_rule_reloads_total`. A swap that removes rules, or whose rules draw warnings
 * from `riskgate check`, is logged at warn. A file event that leaves the rule set as it
 * was is logged at debug only.
 */
export class RuleReloader {
  private rulePaths: readonly string[];
  private ipLists: Readonly<Record<string, string>>;
  /** The restart-only keys last warned about, so file events do not repeat the warning. */
  private warnedKeys = '';

  constructor(
    private readonly context: GatewayContext,
    private readonly options: ReloaderOptions = {},
  ) {
    this.rulePaths = context.config.rulePaths;
    this.ipLists = context.config.ipLists;
  }

  /** The paths the policy in force was read from. */
  watchPaths(): WatchPaths {
    const lists = [...this.context.rules.current.ipLists.values()].map((list) => list.file);
    return pathsToWatch(this.configFile(), this.rulePaths, lists);
  }

  /** Read everything again and swap it in when valid; never throws. */
  reload(trigger: ReloadTrigger, changedFiles: readonly string[] = []): ReloadResult {
    const previous = this.context.rules.policy;
    const candidate = this.readCandidate();
    this.options.onPaths?.(candidate.paths);

    if (!candidate.ruleSet || candidate.problems.length > 0) {
      this.reject(trigger, changedFiles, candidate.problems);
      return { outcome: 'rejected', version: previous.ruleSet.version, previousVersion: previous.ruleSet.version,
        problems: candidate.problems, warnings: [], restartRequired: [] };
    }

    const config = candidate.config;
    const next = { ruleSet: candidate.ruleSet, mode: config?.mode ?? previous.mode };
    const changed = next.ruleSet.version !== previous.ruleSet.version || next.mode !== previous.mode;
    const wasRejected = this.context.rules.rejected !== undefined;
    this.rulePaths = config?.rulePaths ?? this.rulePaths;
    this.ipLists = config?.ipLists ?? this.ipLists;
    this.context.rules.rejected = undefined;
    this.context.rules.warnings = candidate.warnings;

    if (changed) {
      this.context.rules.replace(next, Date.now());
    }
    // Told once, in the reload that makes the change; `check` has no earlier rule set to compare.
    const restarted = restartedCounters(previous.ruleSet.counters, next.ruleSet.counters).map((warning) => formatProblem(warning));
    const warnings = [...restarted, ...candidate.warnings];
    if (changed || wasRejected || trigger !== 'file') {
      this.context.metrics.ruleReloads.labels('success').inc();
      this.logSuccess(trigger, changedFiles, previous, next, changed, warnings);
    } else {
      this.context.logger.debug({ riskgate: { rule_set: next.ruleSet.version } }, 'rule files changed on disk, but not the rule set');
    }

    const restartRequired = config ? restartRequiredKeys(this.context.config, config) : [];
    this.warnRestartRequired(trigger, restartRequired);
    return { outcome: changed ? 'reloaded' : 'unchanged', version: next.ruleSet.version,
      previousVersion: previous.ruleSet.version, problems: [], warnings, restartRequired };
  }

  private readCandidate(): Candidate {
    const problems: SourceProblem[] = [];
    let config: GatewayConfig | undefined;
    if (this.options.loadConfig) {
      try {
        config = this.options.loadConfig();
      } catch (error) {
        problems.push(...problemsOf(error, this.context.config.source));
      }
    }

    // With an invalid config, the running rule paths are still read, so that one log
    // line names every problem.
    const rulePaths = config?.rulePaths ?? this.rulePaths;
    const ipLists = config?.ipLists ?? this.ipLists;
    try {
      const source = readRuleSource(rulePaths);
      const compiled = compileRuleSource(source, { ipLists });
      problems.push(...compiled.problems);
      // An emptied list is rejected as an emptied rule file is, so the lists in force stay.
      if (compiled.ruleSet) problems.push(...emptiedIpLists(this.context.rules.current, compiled.ruleSet));
      const warnings = compiled.ruleSet
        ? sortProblems(findUnreachableRules(compiled.ruleSet, source)).map((warning) => formatProblem(warning))
        : [];
      const lists = [...[...source.lists.values()].map((list) => list.path), ...Object.values(ipLists)];
      return { config, ruleSet: compiled.ruleSet, problems, warnings,
        paths: pathsToWatch(this.configFile(), rulePaths, lists) };
    } catch (error) {
      problems.push(...problemsOf(error, rulePaths[0] ?? this.context.config.source));
      return { config, problems, warnings: [], paths: this.watchPaths() };
    }
  }

  private reject(trigger: ReloadTrigger, changedFiles: readonly string[], problems: SourceProblem[]): void {
    const ruleSet = this.context.rules.current;
    this.context.rules.rejected = { at: Date.now(), errors: problems.length };
    this.context.metrics.ruleReloads.labels('failure').inc();
    this.context.logger.error(
      {
        event: reloadEvent('failure'),
        riskgate: {
          rule_set: ruleSet.version,
          reload: {
            trigger,
            ...(changedFiles.length > 0 ? { files: changedFiles.slice(0, 10) } : {}),
            error_count: problems.length,
            errors: problems.slice(0, MAX_LOGGED_PROBLEMS).map((problem) => redactUrlCredentials(formatProblem(problem))),
          },
        },
      },
      `rule reload rejected with ${problems.length} error(s); rule set ${ruleSet.version} stays in force`,
    );
  }

  private logSuccess(
    trigger: ReloadTrigger,
    changedFiles: readonly string[],
    previous: LivePolicy,
    next: LivePolicy,
    changed: boolean,
    warnings: readonly string[],
  ): void {
    const remaining = new Set(next.ruleSet.rules.map((rule) => rule.id));
    const removed = previous.ruleSet.rules.map((rule) => rule.id).filter((id) => !remaining.has(id));
    const level = removed.length > 0 || warnings.length > 0 ? 'warn' : 'info';
    const summary = changed
      ? `rules reloaded: ${describeChange(previous, next)}`
      : `rules reloaded: no change, rule set ${next.ruleSet.version} stays in force`;
    this.context.logger[level](
      {
        event: reloadEvent('success'),
        riskgate: {
          rule_set: next.ruleSet.version,
          previous_rule_set: previous.ruleSet.version,
          mode: next.mode,
          previous_mode: previous.mode,
          reload: {
            trigger,
            ...(changedFiles.length > 0 ? { files: changedFiles.slice(0, 10) } : {}),
            rule_count: next.ruleSet.rules.length,
            ...(removed.length > 0 ? { removed_rules: removed.slice(0, MAX_LOGGED_PROBLEMS) } : {}),
            ...(warnings.length > 0
              ? { warning_count: warnings.length, warnings: warnings.slice(0, MAX_LOGGED_PROBLEMS).map(redactUrlCredentials) }
              : {}),
          },
        },
      },
      summary + describeWarnings(removed, warnings),
    );
  }

  private warnRestartRequired(trigger: ReloadTrigger, keys: string[]): void {
    const joined = keys.join(', ');
    if (keys.length === 0 || (joined === this.warnedKeys && trigger === 'file')) {
      this.warnedKeys = joined;
      return;
    }
    this.warnedKeys = joined;
    this.context.logger.warn(
      { event: reloadEvent(), riskgate: { reload: { trigger, restart_required: keys } } },
      `config keys changed that apply only after a restart: ${joined}; the running gateway keeps their previous values`,
    );
  }

  private configFile(): string | undefined {
    return this.options.loadConfig ? this.context.config.source : undefined;
  }
}

/** Describe a swap as `rule set A -> B, mode enforce`, naming only what changed with an arrow. */
function describeChange(previous: LivePolicy, next: LivePolicy): string {
  const before = previous.ruleSet.version;
  const after = next.ruleSet.version;
  const ruleSet = before === after ? `rule set ${after} unchanged` : `rule set ${before} -> ${after}`;
  const mode = previous.mode === next.mode ? `mode ${next.mode}` : `mode ${previous.mode} -> ${next.mode}`;
  return `${ruleSet}, ${mode}`;
}

/** Name the removed rules and count the warnings for the end of a reload message, or return ''. */
function describeWarnings(removed: readonly string[], warnings: readonly string[]): string {
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`removed ${removed.length} rule(s): ${removed.slice(0, 10).join(', ')}${removed.length > 10 ? ', ...' : ''}`);
  if (warnings.length > 0) parts.push(`${warnings.length} warning(s), listed in riskgate.reload.warnings`);
  return parts.length > 0 ? `; ${parts.join('; ')}` : '';
}

/** Split rule paths into files and directories; a missing path is watched like a file, by name. */
function pathsToWatch(configFile: string | undefined, rulePaths: readonly string[], listFiles: readonly string[]): WatchPaths {
  const files = configFile ? [configFile] : [];
  const directories: string[] = [];
  for (const path of rulePaths) {
    if (isDirectory(path)) directories.push(path);
    else files.push(path);
  }
  return { files: [...new Set([...files, ...listFiles])], directories };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function problemsOf(error: unknown, file: string): SourceProblem[] {
  if (error instanceof RiskgateError && error.problems.length > 0) return [...error.problems];
  return [{ file, line: 1, column: 1, message: error instanceof Error ? error.message : String(error) }];
}

function reloadEvent(outcome?: 'success' | 'failure'): Record<string, unknown> {
  const event = { kind: 'event', category: ['configuration'], type: ['change'], action: 'rules-reload', module: 'riskgate' };
  return outcome ? { ...event, outcome } : event;
}

/** Hide the user and password of any URL, such as an invalid upstream quoted in a config error. */
function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/*)[^\s"]*@/gi, '$1***@');
}

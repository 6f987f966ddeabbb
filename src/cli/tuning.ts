import { resolve } from 'node:path';

import { loadVerificationKey } from '../challenge/step-up.js';
import { deviceCookieWarnings, outcomeWarnings, subpathWarnings } from '../config/outcome-warnings.js';
import { plainHttpWarnings } from '../config/plain-http.js';
import type { StepUpConfig } from '../config/types.js';
import { readYamlSource } from '../config/yaml-source.js';
import { formatProblem, sortProblems, type SourceProblem } from '../errors.js';
import { describeBroadProxyRange, findBroadProxyRanges } from '../request/broad-proxy-ranges.js';
import type { RuleSet } from '../rules/compile.js';
import { findUnreachableRules } from '../rules/reachability.js';
import { runRuleTests } from '../rules/run-tests.js';
import { EXPLAIN_HELP, runExplain } from './explain.js';
import {
  STDIO,
  compileRules,
  configFileOf,
  displayPath,
  readConfig,
  resolveRulePaths,
  type ConfigReading,
  type Output,
  type Values,
} from './rule-paths.js';

const CHECK_HELP = `Usage: riskgate check [--config FILE | --rules PATH] [--strict]

Validate the config and every rule file it names without starting anything: YAML syntax,
the config and rule schemas, CEL syntax and types, unknown signals and counters, duplicate
rule ids and counter names, and thresholds out of order. These are errors, and start
rejects the same files. Rules that can never change a decision, counters no rule reads and
trusted_proxies ranges that let clients choose their own address are warnings. Each finding is one line, file:line:column: message.

Exit status 0 when there are no errors, 1 otherwise.

Options:
  --config FILE   config file (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
  --rules PATH    check only this rule file or directory, without a config
  --strict        treat warnings as errors
`;

const TEST_HELP = `Usage: riskgate test [PATH ...] [--config FILE]

Run the tests: cases of rule files. PATHs are rule files or directories (default: the
config's rules when --config, $RISKGATE_CONFIG or ./riskgate.yaml names one, else ./rules).
Prints one line per case, and for a failing case what differed: the decision, and each
rule that fired unexpectedly or failed to fire with the values its condition read.

Exit status 0 when every case passes, 1 otherwise.
`;

const REPLAY_HELP = `Usage: riskgate replay FILE ... [--rules PATH] [--config FILE] [--json]

Re-score recorded logins offline under the current rule set (or the one --rules names),
recomputing every counter in event-time order, and report how many decisions change.
FILEs are riskgate decision logs (NDJSON) or CSV files of login events; names ending in
.gz are decompressed. CSV columns: timestamp, ip, username, user_agent, outcome, and
optionally decision, label, route, fingerprint, device and signal columns such as
ua.automation or geo.country.

Options:
  --rules PATH    rule file or directory to replay under (default: the config's rules)
  --config FILE   config for mode, challenge mode, username rules and routes
                  (default: $RISKGATE_CONFIG, else ./riskgate.yaml when it exists)
  --json          print the summary as JSON

Exit status 0 when the replay ran, 1 when the rules or an input file are invalid.
`;

/** Compile rule files; prints every problem and returns the rule set, or undefined. */
function compileOrReport(reading: ConfigReading, io: Output): RuleSet | undefined {
  const { ruleSet, problems } = compileRules(reading.rulePaths, reading.config);
  const all = [...reading.problems, ...problems];
  for (const problem of all) io.out(`${showProblem(problem)}\n`);
  return all.length === 0 ? ruleSet : undefined;
}

/** Run `riskgate check`. */
export async function runCheck(values: Values, _positionals: string[] = [], io: Output = STDIO): Promise<number> {
  const rulesOnly = typeof values.rules === 'string';
  const reading: ConfigReading = rulesOnly
    ? { file: '', rulePaths: [resolve(values.rules as string)], problems: [] }
    : readConfig(configFileOf(values).file);

  const compiled = reading.rulePaths.length > 0 ? compileRules(reading.rulePaths, reading.config) : undefined;
  const source = compiled?.source;
  const keyProblem = reading.config ? await verificationKeyProblem(reading.file, reading.config.challenge) : undefined;
  const errors = sortProblems([...reading.problems, ...(compiled?.problems ?? []), ...(keyProblem ? [keyProblem] : [])]);
  const ruleWarnings = compiled?.ruleSet && source ? findUnreachableRules(compiled.ruleSet, source) : [];
  const warnings = sortProblems([...configWarnings(reading), ...ruleWarnings]);

  for (const problem of errors) io.out(`${showProblem(problem)}\n`);
  for (const warning of warnings) io.out(`${showProblem({ ...warning, message: `warning: ${warning.message}` })}\n`);

  const failing = errors.length + (values.strict === true ? warnings.length : 0);
  const counted = `${errors.length} error(s), ${warnings.length} warning(s)`;
  if (failing > 0 || !compiled?.ruleSet) {
    const scope = source ? ` in ${source.files.length} file(s)` : '';
    io.out(`invalid: ${counted}${scope}${values.strict === true && warnings.length > 0 ? ' (--strict)' : ''}\n`);
    return 1;
  }

  const ruleSet = compiled.ruleSet;
  const subject = rulesOnly ? 'rules valid' : 'config valid';
  io.out(
    `ok: ${subject}; ${ruleSet.rules.length} rules, ${ruleSet.counters.length} counters in ` +
      `${ruleSet.files.length} files (rule set ${ruleSet.version}); ${warnings.length} warning(s)\n`,
  );
  return 0;
}

/**
 * Return why `start` could not load the step-up key file, located at its config key, or
 * undefined when it could or none is read from a file. A JWKS URL is not fetched here.
 */
async function verificationKeyProblem(file: string, challenge: StepUpConfig): Promise<SourceProblem | undefined> {
  if (challenge.mode !== 'step-up' || (!challenge.publicKeyFile && !challenge.jwksFile)) return undefined;
  try {
    await loadVerificationKey(challenge);
    return undefined;
  } catch (error) {
    const key = challenge.publicKeyFile ? 'public_key_file' : 'jwks_file';
    return readYamlSource(file).problemAt(['challenge', key], (error as Error).message);
  }
}

/** Run `riskgate test`. */
export async function runTest(values: Values, positionals: string[] = [], io: Output = STDIO): Promise<number> {
  const reading = resolveRulePaths(values, positionals);
  const ruleSet = compileOrReport(reading, io);
  if (!ruleSet) {
    io.out('rule files are invalid; fix the problems above first\n');
    return 1;
  }

  const results = runRuleTests(ruleSet);
  for (const result of results) {
    io.out(`${result.passed ? 'ok  ' : 'FAIL'} ${result.name}  (${displayPath(result.file)}:${result.line})\n`);
    for (const difference of result.differences) io.out(`       ${difference}\n`);
  }
  const failed = results.filter((result) => !result.passed).length;
  io.out(`${results.length - failed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

async function runReplayCommand(values: Values, positionals: string[] = [], io: Output = STDIO): Promise<number> {
  // Loaded on demand: replay reads the GeoIP database, which check and test never need.
  const module = await import('./replay.js');
  return module.runReplay(values, positionals, io);
}

/** List warnings about a valid config. They have no line, because a value may come from the environment. */
function configWarnings(reading: ConfigReading): SourceProblem[] {
  const proxies = reading.config?.trustedProxies ?? [];
  const messages = [
    ...findBroadProxyRanges(proxies).map(describeBroadProxyRange),
    ...(reading.config ? plainHttpWarnings(reading.config) : []),
    ...(reading.config ? outcomeWarnings(reading.config) : []),
    ...(reading.config ? deviceCookieWarnings(reading.config) : []),
    ...(reading.config ? subpathWarnings(reading.config) : []),
  ];
  return messages.map((message) => ({ file: reading.file, line: 0, column: 0, message }));
}

function showProblem(problem: SourceProblem): string {
  return formatProblem({ ...problem, file: displayPath(problem.file) });
}

export const TUNING_COMMANDS = {
  check: { help: CHECK_HELP, run: runCheck },
  test: { help: TEST_HELP, run: runTest },
  explain: { help: EXPLAIN_HELP, run: runExplain },
  replay: { help: REPLAY_HELP, run: runReplayCommand },
};

import { resolve } from 'node:path';

import { loadConfigFile } from '../config/load.js';
import { RiskgateError, formatProblem, type SourceProblem } from '../errors.js';
import { compileRuleSource, type RuleSet } from '../rules/compile.js';
import { readRuleSource } from '../rules/load.js';
import { runRuleTests } from '../rules/run-tests.js';

const CHECK_HELP = `Usage: riskgate check [--config FILE]

Validate the config and every rule file it names without starting anything. Each problem
is printed as file:line:column: message. Exit status 0 when valid, 1 otherwise.

Options:
  --config FILE   config file (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
`;

const TEST_HELP = `Usage: riskgate test [PATH ...] [--config FILE]

Run the tests: cases of rule files. PATHs are rule files or directories (default: the
config's rules, or ./rules). Prints one line per case; exit status 1 on any failure.
`;

// check and test only validate; RISKGATE_SECRET is needed to run, not to read the files.
const PLACEHOLDER_SECRET = 'riskgate-check-placeholder-secret-000000';

type Values = Record<string, string | boolean | undefined>;

/** Compile rule files, printing every problem; returns the rule set or undefined. */
function compileOrReport(paths: readonly string[], extra: SourceProblem[] = []): RuleSet | undefined {
  const { ruleSet, problems } = compileRuleSource(readRuleSource(paths));
  const all = [...extra, ...problems];
  for (const problem of all) {
    process.stdout.write(`${formatProblem(problem)}\n`);
  }
  return all.length === 0 ? ruleSet : undefined;
}

function configRulePaths(values: Values): { paths: string[]; problems: SourceProblem[] } {
  const file = resolve((values.config as string | undefined) ?? process.env.RISKGATE_CONFIG ?? 'riskgate.yaml');
  try {
    const config = loadConfigFile(file, { secret: process.env.RISKGATE_SECRET ?? PLACEHOLDER_SECRET });
    return { paths: [...config.rulePaths], problems: [] };
  } catch (error) {
    if (error instanceof RiskgateError && error.problems.length > 0) {
      return { paths: [], problems: [...error.problems] };
    }
    if (error instanceof RiskgateError) {
      return { paths: [], problems: [{ file, line: 1, column: 1, message: error.message }] };
    }
    throw error;
  }
}

async function runCheck(values: Values): Promise<number> {
  const { paths, problems } = configRulePaths(values);
  if (paths.length === 0) {
    for (const problem of problems) process.stdout.write(`${formatProblem(problem)}\n`);
    process.stdout.write(`${problems.length} problem(s) found\n`);
    return 1;
  }
  const { ruleSet, problems: ruleProblems } = compileRuleSource(readRuleSource(paths));
  const all = [...problems, ...ruleProblems];
  for (const problem of all) process.stdout.write(`${formatProblem(problem)}\n`);
  if (!ruleSet || all.length > 0) {
    process.stdout.write(`${all.length} problem(s) found\n`);
    return 1;
  }
  process.stdout.write(
    `ok: config valid; ${ruleSet.rules.length} rules, ${ruleSet.counters.length} counters in ` +
      `${ruleSet.files.length} files (rule set ${ruleSet.version})\n`,
  );
  return 0;
}

async function runTest(values: Values, positionals: string[]): Promise<number> {
  const paths = positionals.length > 0
    ? positionals.map((path) => resolve(path))
    : values.config || process.env.RISKGATE_CONFIG
      ? configRulePaths(values).paths
      : [resolve('rules')];
  const ruleSet = compileOrReport(paths);
  if (!ruleSet) {
    process.stdout.write('rule files are invalid; fix the problems above first\n');
    return 1;
  }

  const results = runRuleTests(ruleSet);
  for (const result of results) {
    process.stdout.write(`${result.passed ? 'ok  ' : 'FAIL'} ${result.name} (${result.file}:${result.line})\n`);
    for (const difference of result.differences) process.stdout.write(`       ${difference}\n`);
  }
  const failed = results.filter((result) => !result.passed).length;
  process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

export const TUNING_COMMANDS = {
  check: { help: CHECK_HELP, run: runCheck },
  test: { help: TEST_HELP, run: runTest },
};

import { existsSync, statSync } from 'node:fs';

import { formatProblem } from '../errors.js';
import { DEFAULT_USERNAME_NORMALIZATION } from '../request/username.js';
import { ProgressBar } from '../replay/progress.js';
import { EventReader } from '../replay/read-events.js';
import { replayEvents } from '../replay/replay.js';
import { formatReplayReport, jsonReplayReport } from '../replay/report.js';
import { STDIO, compileRules, configFileOf, readConfig, type ConfigReading, type Output, type Values } from './rule-paths.js';

/** Run `riskgate replay`. */
export async function runReplay(values: Values, files: string[], io: Output = STDIO): Promise<number> {
  if (files.length === 0) {
    io.err('riskgate replay: name at least one log or CSV file, for example: riskgate replay decisions.log.gz\n');
    return 2;
  }
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile()) {
      io.err(`riskgate replay: input file not found: ${file}\n`);
      return 1;
    }
  }

  const { file: configFile, explicit } = configFileOf(values);
  const reading: ConfigReading | undefined = explicit || existsSync(configFile) ? readConfig(configFile) : undefined;
  if (reading && reading.problems.length > 0) {
    for (const problem of reading.problems) io.out(`${formatProblem(problem)}\n`);
    io.out('the config is invalid; fix the problems above or pass --rules without --config\n');
    return 1;
  }
  const config = reading?.config;
  const rulePaths = typeof values.rules === 'string' ? [values.rules] : reading?.rulePaths ?? ['rules'];

  const { ruleSet, problems } = compileRules(rulePaths, config);
  if (!ruleSet) {
    for (const problem of problems) io.out(`${formatProblem(problem)}\n`);
    io.out('rule files are invalid; fix the problems above first\n');
    return 1;
  }

  const challengeMode = config?.challenge.mode ?? 'step-up';
  const reader = new EventReader(files, {
    csv: {
      username: config?.username ?? DEFAULT_USERNAME_NORMALIZATION,
      defaultRoute: config?.loginRoutes[0]?.id ?? 'route-1',
      challengeMode,
    },
  });
  const bar = io.errIsTTY ? new ProgressBar(reader.totalBytes, io.err) : undefined;

  let summary;
  try {
    summary = await replayEvents(reader.events(), {
      ruleSet,
      mode: config?.mode ?? 'enforce',
      challengeMode,
      onProgress: bar ? (events) => bar.update(reader.bytesRead, events) : undefined,
    });
  } catch (error) {
    bar?.done();
    io.err(`riskgate replay: reading the input failed: ${(error as Error).message}\n`);
    return 1;
  }
  bar?.done();

  io.out(values.json === true
    ? `${JSON.stringify(jsonReplayReport(summary, reader.stats), null, 2)}\n`
    : formatReplayReport(summary, reader.stats));
  return reader.stats.events === 0 && reader.stats.invalid > 0 ? 1 : 0;
}

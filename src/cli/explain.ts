import { readFileSync } from 'node:fs';

import { formatProblem } from '../errors.js';
import type { RuleSet } from '../rules/compile.js';
import { explainLogin, formatReads, type Explanation } from '../rules/explain.js';
import { toSignalValues } from '../signals/catalog.js';
import { withStepUp } from '../replay/replay.js';
import { STDIO, compileRules, displayPath, resolveRulePaths, type Output, type Values } from './rule-paths.js';

export const EXPLAIN_HELP = `Usage: riskgate explain [FILE] [--rules PATH] [--config FILE] [--json]

Evaluate every rule against one login and show, for each rule, whether it fired, the
values its condition read and its score, then the total against the thresholds and the
decision. FILE (or standard input, when FILE is - or absent) is either a JSON object
{"signals": {...}, "counters": {...}} whose missing signals are those of an ordinary
browser login, or one riskgate decision log line.

Options:
  --rules PATH    rule file or directory (default: the config's rules, else ./rules)
  --config FILE   config whose rules to use (default: $RISKGATE_CONFIG, else ./riskgate.yaml)
  --json          print the explanation as JSON

Exit status 0 when the login was explained, 1 when the input or the rules are invalid.
`;

/** A login to explain, with what riskgate recorded when it came from a decision line. */
interface ExplainInput {
  signals: Record<string, unknown>;
  recorded?: { decision?: string; rules?: string[]; ruleSet?: string; stepUpOk: boolean; stepUpRejected?: boolean };
}

/** Run `riskgate explain`. */
export async function runExplain(values: Values, positionals: string[] = [], io: Output = STDIO): Promise<number> {
  const reading = resolveRulePaths(values, typeof values.rules === 'string' ? [values.rules] : []);
  const { ruleSet, problems } = compileRules(reading.rulePaths, reading.config);
  if (!ruleSet || reading.problems.length > 0) {
    for (const problem of [...reading.problems, ...problems]) io.out(`${formatProblem(problem)}\n`);
    io.out('rule files are invalid; fix the problems above first\n');
    return 1;
  }

  const file = positionals[0];
  let text: string;
  try {
    text = file && file !== '-' ? readFileSync(file, 'utf8') : await readAll(io.input);
  } catch (error) {
    io.err(`riskgate explain: cannot read ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  const parsed = parseInput(text, file && file !== '-' ? file : '<stdin>');
  if ('error' in parsed) {
    io.err(`riskgate explain: ${parsed.error}\n`);
    return 1;
  }

  const fromLog = parsed.recorded !== undefined;
  const signalInput = fromLog ? keepKnown(parsed.signals, ruleSet) : { values: parsed.signals, ignored: [] as string[] };
  const converted = toSignalValues(signalInput.values, ruleSet.counters.map((counter) => counter.name));
  if (converted.problems.length > 0) {
    for (const problem of converted.problems) io.err(`riskgate explain: ${problem}\n`);
    return 1;
  }

  // Explain under the config's gateway mode, as the live gateway and replay decide.
  const explanation = explainLogin(ruleSet, converted.signals, converted.counters, reading.config?.mode);
  const challengeMode = reading.config?.challenge.mode ?? 'step-up';
  const decision = parsed.recorded ? withStepUp(explanation.decision, parsed.recorded, challengeMode) : explanation.decision;
  const stepUpNote = decision === explanation.decision ? ''
    : decision === 'allow' ? '; a valid step-up assertion turned the challenge into allow'
      : '; a rejected step-up assertion turned the allow into a challenge';
  if (values.json === true) {
    io.out(`${JSON.stringify(jsonExplanation(explanation, decision, parsed, signalInput.ignored), null, 2)}\n`);
    return 0;
  }

  io.out(formatTable(explanation, ruleSet));
  io.out(`\ndecision: ${decision} (${explanation.reason}${stepUpNote})\n`);
  if (parsed.recorded) {
    const recorded = parsed.recorded;
    const same = recorded.ruleSet === ruleSet.version ? 'the same rule set' : `rule set ${recorded.ruleSet ?? 'unknown'}`;
    io.out(`recorded: ${recorded.decision ?? 'unknown'} under ${same}, rules ${recorded.rules?.join(', ') || 'none'}\n`);
  }
  if (signalInput.ignored.length > 0) {
    io.out(`ignored (not in this rule set or signal catalog): ${signalInput.ignored.join(', ')}\n`);
  }
  return 0;
}

function parseInput(text: string, name: string): ExplainInput | { error: string } {
  const objects: Record<string, any>[] = [];
  try {
    objects.push(JSON.parse(text));
  } catch {
    for (const [index, line] of text.split('\n').entries()) {
      if (!line.trim()) continue;
      try {
        objects.push(JSON.parse(line));
      } catch {
        return { error: `${name}:${index + 1}: not JSON; give a JSON object or one decision log line` };
      }
    }
  }

  const decisions = objects.filter((object) => object?.riskgate?.signals !== undefined);
  if (decisions.length > 1) {
    return { error: `${name} holds ${decisions.length} decision lines; explain takes one, for example: grep REQUEST_ID log | riskgate explain` };
  }
  if (decisions.length === 1) {
    const line = decisions[0];
    return {
      signals: { ...line.riskgate.signals, counters: line.riskgate.counters ?? {} },
      recorded: {
        decision: line.riskgate.decision,
        rules: line.riskgate.rules,
        ruleSet: line.riskgate.rule_set,
        stepUpOk: line.riskgate.step_up?.ok === true,
        stepUpRejected: line.riskgate.step_up?.ok === false,
      },
    };
  }

  const event = objects.length === 1 ? objects[0] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { error: `${name}: expected one JSON object with "signals" and "counters", or one decision log line` };
  }
  const unknown = Object.keys(event).filter((key) => key !== 'signals' && key !== 'counters');
  if (unknown.length > 0) {
    return { error: `${name}: unknown key "${unknown[0]}"; an event has only "signals" and "counters"` };
  }
  const signals = { ...(event.signals ?? {}) };
  if (event.counters !== undefined) signals.counters = { ...(signals.counters ?? {}), ...event.counters };
  return { signals };
}

/** Drop a decision line's counters and signals that the current rule set or catalog lacks. */
function keepKnown(input: Record<string, unknown>, ruleSet: RuleSet): { values: Record<string, unknown>; ignored: string[] } {
  const probe = toSignalValues({}, ruleSet.counters.map((counter) => counter.name));
  const known: Record<string, Record<string, unknown>> = { ...probe.signals, counters: probe.counters };
  const values: Record<string, Record<string, unknown>> = {};
  const ignored: string[] = [];
  for (const [group, fields] of Object.entries(input)) {
    if (typeof fields !== 'object' || fields === null) continue;
    for (const [field, value] of Object.entries(fields)) {
      if (known[group] && field in known[group]) (values[group] ??= {})[field] = value;
      else ignored.push(`${group}.${field}`);
    }
  }
  return { values, ignored };
}

function formatTable(explanation: Explanation, ruleSet: RuleSet): string {
  const { challengeAt, blockAt } = explanation.thresholds;
  const header = ['RULE', 'MODE', 'FIRED', 'SCORE', 'ACTION', 'READ'];
  const rows = explanation.rules.map((rule) => [
    rule.id,
    rule.mode,
    rule.error ? 'error' : rule.fired ? 'yes' : 'no',
    rule.fired ? `+${rule.score}` : String(rule.score),
    rule.action ?? '-',
    rule.error ? `failed: ${rule.error}` : formatReads(rule.reads),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd();

  const files = ruleSet.files.map(displayPath).join(', ');
  return [
    `rule set ${explanation.ruleSet} (${files})`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `score ${explanation.score} (challenge_at ${challengeAt}, block_at ${blockAt})` +
      (explanation.wouldScore !== explanation.score ? `; ${explanation.wouldScore} with monitor-mode rules` : ''),
    '',
  ].join('\n');
}

function jsonExplanation(explanation: Explanation, decision: string, input: ExplainInput, ignored: string[]): Record<string, unknown> {
  return {
    rule_set: explanation.ruleSet,
    thresholds: { challenge_at: explanation.thresholds.challengeAt, block_at: explanation.thresholds.blockAt },
    rules: explanation.rules.map((rule) => ({
      id: rule.id,
      mode: rule.mode,
      fired: rule.fired,
      ...(rule.error ? { error: rule.error } : {}),
      score: rule.score,
      contribution: rule.contribution,
      ...(rule.action ? { action: rule.action } : {}),
      reads: rule.reads,
    })),
    score: explanation.score,
    would_score: explanation.wouldScore,
    decision,
    would_decision: explanation.wouldDecision,
    reason: explanation.reason,
    ...(input.recorded ? { recorded: input.recorded } : {}),
    ...(ignored.length > 0 ? { ignored } : {}),
  };
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

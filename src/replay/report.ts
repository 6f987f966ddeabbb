import type { InputStats } from './read-events.js';
import { DECISIONS, type LabelStats, type ReplaySummary } from './replay.js';

/** Format a replay summary for a terminal: the change matrix, the rules behind it, label rates. */
export function formatReplayReport(summary: ReplaySummary, input: InputStats): string {
  const lines: string[] = [];
  const seconds = summary.elapsedMs / 1000;
  lines.push(
    `replayed ${count(summary.events)} logins from ${input.files} file(s) under rule set ${summary.ruleSet} ` +
      `in ${seconds.toFixed(2)} s (${count(summary.eventsPerSecond)} logins/s)`,
  );
  if (input.skipped > 0) lines.push(`skipped ${count(input.skipped)} lines that are not login decisions`);
  if (input.invalid > 0) {
    lines.push(`invalid: ${count(input.invalid)} lines could not be read, for example:`);
    lines.push(...input.errors.map((error) => `  ${error}`));
  }
  if (summary.outOfOrder > 0) {
    lines.push(`out of order: ${count(summary.outOfOrder)} logins arrived after later ones; their counters may differ from live`);
  }

  const share = summary.events > 0 ? ` (${percent(summary.changed, summary.events)})` : '';
  lines.push('', `decisions changed: ${count(summary.changed)} of ${count(summary.events)}${share}`, '');
  lines.push(...matrixLines(summary));

  if (summary.changed > 0) {
    lines.push('', 'rules behind the changes:');
    for (const rule of summary.rules) {
      const parts = [];
      if (rule.nowFires > 0) parts.push(`fires now on ${count(rule.nowFires)}`);
      if (rule.noLongerFires > 0) parts.push(`no longer fires on ${count(rule.noLongerFires)}`);
      lines.push(`  ${rule.id}: ${parts.join(', ')}`);
    }
    if (summary.sameRules > 0) {
      lines.push(`  same rules fired, thresholds or scores decided: ${count(summary.sameRules)}`);
    }
  }

  const { attack, legitimate } = summary.labels;
  if (attack.total > 0 || legitimate.total > 0) {
    lines.push('', 'labelled logins (recorded -> replayed):');
    if (attack.total > 0) lines.push(`  attacks caught (challenged or blocked): ${rates(attack)}`);
    if (legitimate.total > 0) lines.push(`  legitimate logins with friction (challenged or blocked): ${rates(legitimate)}`);
  }

  if (summary.counterMismatches > 0) {
    lines.push('', `counters differ from the recorded ones on ${count(summary.counterMismatches)} logins, for example:`);
    lines.push(...summary.counterMismatchExamples.map((example) => `  ${example}`));
  }
  return `${lines.join('\n')}\n`;
}

function matrixLines(summary: ReplaySummary): string[] {
  const corner = 'recorded \\ replayed';
  const cells = DECISIONS.map((from) => DECISIONS.map((to) => count(summary.matrix[from][to])));
  const width = Math.max(9, ...cells.flat().map((cell) => cell.length));
  const rows = [`${corner.padEnd(corner.length)}  ${DECISIONS.map((to) => to.padStart(width)).join('  ')}`];
  DECISIONS.forEach((from, index) => {
    rows.push(`${from.padEnd(corner.length)}  ${cells[index].map((cell) => cell.padStart(width)).join('  ')}`);
  });
  return rows;
}

function rates(stats: LabelStats): string {
  return `${percent(stats.stoppedBefore, stats.total)} -> ${percent(stats.stoppedAfter, stats.total)} of ${count(stats.total)}` +
    ` (${percent(stats.blockedAfter, stats.total)} blocked)`;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part * 100) / whole).toFixed(1)}%`;
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}

/** The summary as JSON for scripts, with the input statistics. */
export function jsonReplayReport(summary: ReplaySummary, input: InputStats): Record<string, unknown> {
  return {
    rule_set: summary.ruleSet,
    events: summary.events,
    changed: summary.changed,
    matrix: summary.matrix,
    rules: summary.rules.map((rule) => ({ id: rule.id, now_fires: rule.nowFires, no_longer_fires: rule.noLongerFires })),
    same_rules: summary.sameRules,
    labels: summary.labels,
    counter_mismatches: summary.counterMismatches,
    out_of_order: summary.outOfOrder,
    input: { files: input.files, lines: input.lines, skipped: input.skipped, invalid: input.invalid, errors: input.errors },
    elapsed_ms: Math.round(summary.elapsedMs),
    events_per_second: summary.eventsPerSecond,
  };
}

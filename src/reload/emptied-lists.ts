import type { SourceProblem } from '../errors.js';
import type { RuleSet } from '../rules/compile.js';

/**
 * Report each IP list that had entries in the rule set in force and has none in the
 * candidate, as a failed download leaves it. A list that was already empty may stay empty.
 */
export function emptiedIpLists(inForce: RuleSet, candidate: RuleSet): SourceProblem[] {
  const problems: SourceProblem[] = [];
  for (const list of candidate.ipLists.values()) {
    const before = inForce.ipLists.get(list.name)?.size ?? 0;
    if (list.size > 0 || before === 0) continue;
    problems.push({
      file: list.file,
      line: 1,
      column: 1,
      message: `IP list "${list.name}" is empty, but had ${before} address range(s) before this reload: ` +
        'restore its addresses (one address or CIDR per line), or remove the list and its rules to drop it',
    });
  }
  return problems;
}

/** Error codes, which scripts and tests can match on instead of the message text. */
export type RiskgateErrorCode =
  | 'RG_ERR_CONFIG_INVALID'
  | 'RG_ERR_CONFIG_NOT_FOUND'
  | 'RG_ERR_SECRET_MISSING'
  | 'RG_ERR_SECRET_MISMATCH'
  | 'RG_ERR_SECRET_UNVERIFIED'
  | 'RG_ERR_RULES_INVALID'
  | 'RG_ERR_STORE_UNAVAILABLE'
  | 'RG_ERR_STORE_TIMEOUT'
  | 'RG_ERR_STORE_REQUEST_INVALID'
  | 'RG_ERR_USAGE';

/** One problem in a config or rule file, located as `file:line:column`. */
export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/**
 * Format a problem as `file:line:column: message`; a problem with line 0 has no place in
 * the file. Line breaks and other control characters in the message, which can come from a
 * quoted config value, are escaped, so each problem stays one line and a `\r` cannot
 * overwrite a terminal line.
 */
export function formatProblem(problem: SourceProblem): string {
  const message = escapeControls(problem.message);
  if (problem.line === 0) return `${problem.file}: ${message}`;
  return `${problem.file}:${problem.line}:${problem.column}: ${message}`;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeControls(text: string): string {
  return text.replace(CONTROL, (character) => {
    if (character === '\n') return '\\n';
    if (character === '\r') return '\\r';
    if (character === '\t') return '\\t';
    return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** Order problems by file, then position; the config file's problems stay first. */
export function sortProblems(problems: SourceProblem[]): SourceProblem[] {
  const files = [...new Set(problems.map((problem) => problem.file))];
  return [...problems].sort((a, b) =>
    files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line || a.column - b.column);
}

export class RiskgateError extends Error {
  readonly code: RiskgateErrorCode;
  readonly problems: readonly SourceProblem[];

  constructor(code: RiskgateErrorCode, message: string, problems: SourceProblem[] = []) {
    super(message);
    this.name = 'RiskgateError';
    this.code = code;
    this.problems = problems;
  }
}

/** Throw a RiskgateError carrying every problem found, one `file:line:column` line each. */
export function throwProblems(
  code: 'RG_ERR_CONFIG_INVALID' | 'RG_ERR_RULES_INVALID',
  problems: SourceProblem[],
): never {
  const lines = problems.map(formatProblem).join('\n');
  throw new RiskgateError(code, `${problems.length} problem(s) found:\n${lines}`, problems);
}

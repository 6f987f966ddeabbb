import type { ASTNode, Environment } from '@marcbachmann/cel-js';

import type { SourceProblem } from '../errors.js';
import { visitAst } from './cel-ast.js';
import { locateInScalar } from './cel-problem.js';
import type { RuleSource } from './load.js';
import { PatternError, compilePattern, matchesPattern } from './re2-pattern.js';
import type { RuleDefinition } from './types.js';

/**
 * Name of the RE2 `string.matches(string)` in the CEL environment. cel-js 8.0 has a
 * built-in `matches` on JavaScript RegExp, which it does not let a registration replace, so
 * each parsed condition's `matches` calls are renamed to this one. The brackets make it a
 * name the CEL parser never produces, so rule text cannot call it by this name.
 */
const RE2_MATCHES = 'matches[RE2]';

const RE2_SYNTAX = 'https://github.com/google/re2/wiki/Syntax';

/**
 * Register RE2 matching: `text.matches(pattern)` under RE2_MATCHES, for the calls that
 * routeMatchesToRe2 renames, and the global `matches(text, pattern)` that the CEL spec
 * also defines and cel-js 8.0 lacks.
 */
export function registerRe2Matches(environment: Environment): void {
  const description = 'True when the RE2 pattern matches any part of the string';
  environment.registerFunction({
    name: RE2_MATCHES,
    receiverType: 'string',
    returnType: 'bool',
    params: [{ name: 'pattern', type: 'string' }],
    description,
    handler: matchesPattern,
  });
  environment.registerFunction({
    name: 'matches',
    returnType: 'bool',
    params: [
      { name: 'text', type: 'string' },
      { name: 'pattern', type: 'string' },
    ],
    description,
    handler: matchesPattern,
  });
}

/**
 * Point every `text.matches(pattern)` call in a parsed condition at the RE2 function.
 * Call it on the AST that will be evaluated, before its first check or evaluation, because
 * cel-js binds each call to its function when it type-checks the AST.
 */
export function routeMatchesToRe2(ast: ASTNode): void {
  visitAst(ast, (node) => {
    if (node.op === 'rcall' && node.args[0] === 'matches') {
      (node.args as unknown[])[0] = RE2_MATCHES;
    }
  });
}

/**
 * Compile each pattern that a condition passes to `matches` as a string literal, so a
 * pattern RE2 cannot compile fails at load with its file and line instead of making the
 * rule fail on every login.
 */
export function checkPatternLiterals(source: RuleSource, rule: RuleDefinition, ast: ASTNode): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const index = source.rules.filter((other) => other.file === rule.file).indexOf(rule);
  const yaml = source.sources.get(rule.file);

  visitAst(ast, (node) => {
    const pattern = patternArgument(node);
    if (!pattern || pattern.op !== 'value' || typeof pattern.args !== 'string') return;
    try {
      compilePattern(pattern.args);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      const where = (yaml && locateInScalar(yaml, ['rules', index, 'when'], pattern.pos)) ?? { line: rule.line, column: 1 };
      problems.push({
        file: rule.file,
        ...where,
        message: `rule "${rule.id}": invalid RE2 pattern ${JSON.stringify(pattern.args)} in matches: ${error.reason}. ` +
          `Write it in RE2 syntax, which has no lookaround and no backreferences (${RE2_SYNTAX})`,
      });
    }
  });
  return problems;
}

/** Return the pattern argument of a `matches` call, in method or global form. */
function patternArgument(node: ASTNode): ASTNode | undefined {
  if (node.op === 'rcall' && (node.args[0] === 'matches' || node.args[0] === RE2_MATCHES)) {
    return node.args[2][0];
  }
  if (node.op === 'call' && node.args[0] === 'matches') {
    return node.args[1][1];
  }
  return undefined;
}

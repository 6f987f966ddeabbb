import type { ASTNode, Environment } from '@marcbachmann/cel-js';

import type { SourceProblem } from '../errors.js';
import { loadIpLists, type IpList } from '../geo/ip-lists.js';
import { registerGroupVariable } from './activation.js';
import { visitAst } from './cel-ast.js';
import { locateInScalar } from './cel-problem.js';
import type { RuleSource } from './load.js';
import type { RuleDefinition } from './types.js';

/** CEL type name of the `ip` signal group, which `in_list` is a method of. */
const IP_TYPE = 'riskgate.Ip';

/**
 * Register the `ip` group as a named type with the method `ip.in_list("name")`, true when
 * the login's address is in the IP list of that name. The lists are bound here, so each
 * rule set evaluates against the lists it was loaded with and a reload swaps both at once.
 */
export function registerIpVariable(environment: Environment, fields: Record<string, string>, lists: ReadonlyMap<string, IpList>): void {
  registerGroupVariable(environment, 'ip', IP_TYPE, fields);
  environment.registerFunction({
    name: 'in_list',
    receiverType: IP_TYPE,
    returnType: 'bool',
    params: [{ name: 'list', type: 'string' }],
    description: 'True when the address is in the named IP list (ip_lists in the config, lists in a rule file)',
    handler: (ip: Record<string, unknown>, name: string) => {
      const address = ip.address;
      return typeof address === 'string' && (lists.get(name)?.contains(address) ?? false);
    },
  });
}

/**
 * Load the IP lists of a rule set: those its rule files name, with the config's `ip_lists`
 * laid over them by name (a config entry replaces the rule file's file for that name).
 */
export function loadRuleSetLists(source: RuleSource, configured: Readonly<Record<string, string>>): { lists: Map<string, IpList>; problems: SourceProblem[] } {
  const files: Record<string, string> = {};
  for (const [name, declared] of source.lists) files[name] = declared.path;
  Object.assign(files, configured);
  return loadIpLists(files);
}

/**
 * Check that every `in_list` call names a loaded list by a string literal, so a misspelt
 * list fails at load with its file and line instead of never matching.
 */
export function checkListReferences(source: RuleSource, rule: RuleDefinition, ast: ASTNode, lists: ReadonlyMap<string, unknown>): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const index = source.rules.filter((other) => other.file === rule.file).indexOf(rule);
  const yaml = source.sources.get(rule.file);
  const at = (position: number, message: string) => {
    const where = (yaml && locateInScalar(yaml, ['rules', index, 'when'], position)) ?? { line: rule.line, column: 1 };
    problems.push({ file: rule.file, ...where, message: `rule "${rule.id}": ${message}` });
  };

  visitAst(ast, (node) => {
    if (node.op !== 'rcall' || !Array.isArray(node.args) || node.args[0] !== 'in_list') return;
    const argument = (node.args[2] as ASTNode[] | undefined)?.[0];
    const known = [...lists.keys()].join(', ') || 'none';
    if (!argument || argument.op !== 'value' || typeof argument.args !== 'string') {
      at(node.pos, `in_list needs a list name in quotes, such as ip.in_list("tor") (lists: ${known})`);
    } else if (!lists.has(argument.args)) {
      at(argument.pos, `unknown IP list "${argument.args}": add it under ip_lists in the config or lists in a rule file (lists: ${known})`);
    }
  });
  return problems;
}

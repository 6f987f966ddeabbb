import type { ASTNode } from '@marcbachmann/cel-js';

/** Call `callback` on every node of a parsed CEL expression, parents before children. */
export function visitAst(node: unknown, callback: (node: ASTNode) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) visitAst(item, callback);
    return;
  }
  if (typeof node !== 'object' || node === null || !('op' in node)) return;
  callback(node as ASTNode);
  visitAst((node as ASTNode).args, callback);
}

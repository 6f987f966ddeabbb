// Write src/request/collation-groups.ts: the non-ASCII letters and digits that ICU's root
// collation reads as one at base strength (Hebrew final letters and their plain forms, for
// example), each mapped to one member of its group. Run after `npm run build` when Node's
// ICU changes: node scripts/collation-groups.mjs
import { writeFileSync } from 'node:fs';

import { normalizeUsername } from '../dist/request/username.js';

const collator = new Intl.Collator('und', { sensitivity: 'base' });

// Case folding, NFKC and the removal of accents run before the table. So only characters
// that have no decomposition and no lower case need a place in it. Those that read as ASCII
// or as nothing are read so already.
const letters = [];
for (let codePoint = 0x80; codePoint <= 0x3ffff; codePoint += 1) {
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue;
  const character = String.fromCodePoint(codePoint);
  if (!/^[\p{L}\p{N}]$/u.test(character)) continue;
  if (character.normalize('NFKD') !== character || character.toLowerCase() !== character) continue;
  const reading = normalizeUsername(character);
  if (reading === '' || /^[\x00-\x7f]*$/.test(reading)) continue;
  letters.push(character);
}

letters.sort((a, b) => collator.compare(a, b) || a.codePointAt(0) - b.codePointAt(0));

// Equal characters sort next to each other. The first code point of each group stands for
// it, among those that case folding keeps (σ rather than the final ς).
const entries = [];
let group = [letters[0]];
const keptByCaseFolding = (character) => character.toUpperCase().toLowerCase() === character;
const flush = () => {
  if (group.length < 2) return;
  const first = [...group].sort((a, b) => Number(keptByCaseFolding(b)) - Number(keptByCaseFolding(a)) || a.codePointAt(0) - b.codePointAt(0))[0];
  for (const member of group) if (member !== first) entries.push([member, first]);
};
for (const character of letters.slice(1)) {
  if (collator.compare(group[0], character) === 0) {
    group.push(character);
  } else {
    flush();
    group = [character];
  }
}
flush();
entries.sort((a, b) => a[0].codePointAt(0) - b[0].codePointAt(0));

const escape = (text) => [...text].map((character) => `\\u{${character.codePointAt(0).toString(16)}}`).join('');
const lines = entries.map(([member, first]) => `  ['${escape(member)}', '${escape(first)}'],`);
writeFileSync(new URL('../src/request/collation-groups.ts', import.meta.url), `// Written by scripts/collation-groups.mjs from the ICU of Node ${process.versions.node} (ICU ${process.versions.icu}); do not edit.

/**
 * Non-ASCII letters and digits that ICU's root collation reads as another at base strength,
 * each with the member of its group that stands for it.
 */
export const COLLATION_GROUPS: ReadonlyMap<string, string> = new Map([
${lines.join('\n')}
]);
`);
console.log(`${entries.length} letters in groups`);

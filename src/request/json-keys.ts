/**
 * List the keys of the top-level object in `text`, unescaped, duplicates included, in
 * order. JSON.parse keeps only the last of duplicated keys while other parsers keep the
 * first, so callers need the full list to reject a body that names a field twice. `text`
 * must already have parsed as a JSON object; the scan relies on it being well-formed.
 */
export function topLevelKeys(text: string): string[] {
  let depth = 0;
  let expectKey = false;
  const keys: string[] = [];

  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];

    if (character === '"') {
      const end = stringEnd(text, index);
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(index, end + 1)) as string);
        expectKey = false;
      }
      index = end;
    } else if (character === '{' || character === '[') {
      depth += 1;
      expectKey = depth === 1;
    } else if (character === '}' || character === ']') {
      depth -= 1;
    } else if (character === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** Index of the quote that closes the string literal opening at `start`. */
function stringEnd(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length && text[index] !== '"') {
    index += text[index] === '\\' ? 2 : 1;
  }
  return index;
}

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

/**
 * Return the keys of the object that the top-level key `outer` holds, as written, so that a
 * duplicate, which JSON.parse drops, can be seen. The body must be valid JSON with `outer`
 * once at its top level.
 */
export function nestedKeys(text: string, outer: string): string[] {
  let depth = 0;
  let expectKey = false;
  let topKey: string | undefined;
  let inside = false;
  const keys: string[] = [];

  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];

    if (character === '"') {
      const end = stringEnd(text, index);
      if (expectKey) {
        const key = JSON.parse(text.slice(index, end + 1)) as string;
        if (depth === 1) topKey = key;
        else keys.push(key);
        expectKey = false;
      }
      index = end;
    } else if (character === '{' || character === '[') {
      depth += 1;
      if (depth === 2) inside = character === '{' && topKey === outer;
      expectKey = character === '{' && (depth === 1 || (depth === 2 && inside));
    } else if (character === '}' || character === ']') {
      depth -= 1;
      if (depth < 2) inside = false;
    } else if (character === ',' && (depth === 1 || (depth === 2 && inside))) {
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

/**
 * List the keys of the top-level object in `text`, unescaped, duplicates included, in
 * order. JSON.parse keeps only the last of duplicated keys while other parsers keep the
 * first, so callers need the full list to reject a body that names a field twice. `text`
 * must already have parsed as a JSON object; the scan relies on it being well-formed.
 */
export function topLevelKeys(text: string): string[] {
  return objectKeys(text, undefined);
}

/**
 * List the keys of the object that the top-level key `outer` contains, in the same way, so
 * that a duplicate can be seen there too. `outer` must appear once at the top level.
 */
export function nestedKeys(text: string, outer: string): string[] {
  return objectKeys(text, outer);
}

/** Scan for the top-level keys, or with `outer`, for the keys of the object under it. */
function objectKeys(text: string, outer: string | undefined): string[] {
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
        if (depth === 1 ? outer === undefined : inside) keys.push(key);
        expectKey = false;
      }
      index = end;
    } else if (character === '{' || character === '[') {
      depth += 1;
      if (depth === 2) inside = character === '{' && outer !== undefined && topKey === outer;
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

/**
 * Text checks on request data written as loops, where the obvious regular expression would
 * backtrack. V8 retries a pattern such as `/[. ]+$/` from each position of a run that does
 * not reach the end, so its cost grows with the square of the run, and nested repetition
 * such as a run of comments before `{` grows exponentially.
 */

/** Return `text` without the characters of `characters` that end it. */
export function trimTrailing(text: string, characters: string): string {
  let end = text.length;
  while (end > 0 && characters.includes(text[end - 1])) end -= 1;
  return end === text.length ? text : text.slice(0, end);
}

/**
 * Tell whether `text` starts with `{` after any white space and `/* *\/`, `//` or `#`
 * comments, as lenient JSON readers skip them. A block comment ends at its first `*\/`.
 */
export function opensLikeJsonObject(text: string): boolean {
  let index = 0;
  while (index < text.length) {
    const character = text[index];
    if (/\s/.test(character)) {
      index += 1;
    } else if (text.startsWith('/*', index)) {
      const end = text.indexOf('*/', index + 2);
      if (end === -1) return false;
      index = end + 2;
    } else if (text.startsWith('//', index) || character === '#') {
      const end = text.indexOf('\n', index);
      if (end === -1) return false;
      index = end + 1;
    } else {
      return character === '{';
    }
  }
  return false;
}

/**
 * Find where `text` stops being valid JSON (RFC 8259), so that an error can name the
 * position without quoting the text. V8's JSON.parse messages quote a fragment of the
 * input, which may contain a username. Returns the 0-based index, in UTF-16 code units, of
 * the first character that no valid document can continue with (`text.length` when the
 * text ends too early), or undefined when `text` is valid JSON.
 */
export function jsonSyntaxErrorPosition(text: string): number | undefined {
  try {
    scanDocument(text);
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxError) return error.position;
    throw error;
  }
}

class JsonSyntaxError extends Error {
  constructor(readonly position: number) {
    super(`invalid JSON at position ${position}`);
  }
}

/** The token the scanner accepts next. `after-value` is a comma, a closing bracket or the end. */
type Expected = 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'colon' | 'after-value';

const WHITESPACE = ' \t\n\r';
const ESCAPES = '"\\/bfnrt';

/**
 * Scan a whole document without recursion, so that deep nesting cannot overflow the
 * stack. `closers` contains the bracket that ends each open object or array. This and
 * every helper below throw JsonSyntaxError at the first character that cannot continue.
 */
function scanDocument(text: string): void {
  const closers: string[] = [];
  let expected: Expected = 'value';
  let index = 0;

  for (;;) {
    while (index < text.length && WHITESPACE.includes(text[index])) index += 1;
    if (expected === 'after-value' && closers.length === 0) {
      if (index < text.length) throw new JsonSyntaxError(index);
      return;
    }
    if (index >= text.length) throw new JsonSyntaxError(text.length);

    const character = text[index];
    if ((expected === 'value-or-close' && character === ']') || (expected === 'key-or-close' && character === '}')) {
      closers.pop();
      index += 1;
      expected = 'after-value';
      continue;
    }

    if (expected === 'key' || expected === 'key-or-close') {
      if (character !== '"') throw new JsonSyntaxError(index);
      index = stringEnd(text, index);
      expected = 'colon';
    } else if (expected === 'colon') {
      if (character !== ':') throw new JsonSyntaxError(index);
      index += 1;
      expected = 'value';
    } else if (expected === 'after-value') {
      if (character === ',') {
        expected = closers.at(-1) === '}' ? 'key' : 'value';
      } else if (character === closers.at(-1)) {
        closers.pop();
      } else {
        throw new JsonSyntaxError(index);
      }
      index += 1;
    } else if (character === '{' || character === '[') {
      closers.push(character === '{' ? '}' : ']');
      index += 1;
      expected = character === '{' ? 'key-or-close' : 'value-or-close';
    } else {
      index = scalarEnd(text, index);
      expected = 'after-value';
    }
  }
}

/** Return the index after the string, number or literal that starts at `start`. */
function scalarEnd(text: string, start: number): number {
  const character = text[start];
  if (character === '"') return stringEnd(text, start);
  if (character === '-' || (character >= '0' && character <= '9')) return numberEnd(text, start);

  const literal = ['true', 'false', 'null'].find((word) => word[0] === character);
  if (!literal) throw new JsonSyntaxError(start);
  for (let offset = 1; offset < literal.length; offset += 1) {
    if (start + offset >= text.length) throw new JsonSyntaxError(text.length);
    if (text[start + offset] !== literal[offset]) throw new JsonSyntaxError(start + offset);
  }
  return start + literal.length;
}

/** Return the index after the string literal whose opening quote is at `start`. */
function stringEnd(text: string, start: number): number {
  let index = start + 1;
  for (;;) {
    if (index >= text.length) throw new JsonSyntaxError(text.length);
    const character = text[index];
    if (character === '"') return index + 1;
    if (character < ' ') throw new JsonSyntaxError(index);
    if (character !== '\\') {
      index += 1;
      continue;
    }

    const escape = text[index + 1];
    if (escape === undefined) throw new JsonSyntaxError(text.length);
    if (escape === 'u') {
      for (let digit = index + 2; digit < index + 6; digit += 1) {
        if (digit >= text.length) throw new JsonSyntaxError(text.length);
        if (!/[0-9a-fA-F]/.test(text[digit])) throw new JsonSyntaxError(digit);
      }
      index += 6;
    } else if (ESCAPES.includes(escape)) {
      index += 2;
    } else {
      throw new JsonSyntaxError(index + 1);
    }
  }
}

/** Return the index after the number `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` at `start`. */
function numberEnd(text: string, start: number): number {
  let index = start;
  if (text[index] === '-') index += 1;

  if (text[index] === '0') {
    index += 1;
  } else {
    index = digitsEnd(text, index);
  }
  if (text[index] === '.') index = digitsEnd(text, index + 1);
  if (text[index] === 'e' || text[index] === 'E') {
    index += 1;
    if (text[index] === '+' || text[index] === '-') index += 1;
    index = digitsEnd(text, index);
  }
  return index;
}

/** Return the index after the run of one or more digits that starts at `start`. */
function digitsEnd(text: string, start: number): number {
  let index = start;
  while (index < text.length && text[index] >= '0' && text[index] <= '9') index += 1;
  if (index === start) throw new JsonSyntaxError(Math.min(start, text.length));
  return index;
}

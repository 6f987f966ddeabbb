import type { DestinationStream } from 'pino';

// Characters JSON.stringify leaves raw although some line readers break lines at them:
// C1 controls (U+0085 is NEL) and the Unicode line and paragraph separators.
const LINE_BREAKING = /[\u0080-\u009f\u2028\u2029]/;
const LINE_BREAKING_ALL = /[\u0080-\u009f\u2028\u2029]/g;

/**
 * Wrap a destination so that every serialised log line stays one line for any reader. In
 * pino's JSON output these characters can only occur inside strings, where the `\uXXXX`
 * escape means the same, so the line still parses to the same values.
 */
export function lineSafe(stream: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      const safe = LINE_BREAKING.test(line)
        ? line.replace(LINE_BREAKING_ALL, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)
        : line;
      return stream.write(safe);
    },
  };
}

/**
 * Exit with status 0 when the reader of standard output goes away, as when the output is
 * piped into `head`. Without a listener, the write fails with an unhandled EPIPE error and a
 * stack trace, and the exit status 1 would read as a failing test case of `riskgate test`.
 * Other write errors are thrown as before.
 */
export function exitOnClosedStdout(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

import type { ExitCode } from './exit-codes.js';

/** A failure that maps to one of memory_checker's documented exit codes and a one-line message. */
export class CheckError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CheckError';
  }
}

/** A file held something that is not the number it should be (exit 2, as SONiC's checker). */
export class ValueError extends CheckError {
  constructor(message: string) {
    super(2, message);
    this.name = 'ValueError';
  }
}

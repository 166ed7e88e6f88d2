// memory_checker's whole run: arguments → check → SONiC's exit code and output. Output goes to
// the two streams given, so tests and the exporter can run it in-process.
import { parseCheckerArgs, USAGE } from './args.js';
import { EXIT, exitCodeFor, overThresholdMessage, type ExitCode } from './exit-codes.js';
import { CheckError } from './errors.js';
import { checkMemory, type CheckerSettings } from './checker.js';
import { errorLine } from '../util/errors.js';
import { VERSION } from '../util/version.js';

export interface Streams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function runMemoryChecker(argv: readonly string[], settings: () => CheckerSettings, io: Streams): Promise<ExitCode> {
  const parsed = parseCheckerArgs(argv);
  switch (parsed.kind) {
    case 'help':
      io.stdout(`${USAGE}\n`);
      return EXIT.OK;
    case 'version':
      io.stdout(`memory_checker (kubesonic) ${VERSION}\n`);
      return EXIT.OK;
    case 'usage-error':
      io.stderr(`memory_checker: ${parsed.message}\n${USAGE.split('\n')[0]}\n`);
      return EXIT.INVALID_VALUE;
    case 'invalid-threshold':
      io.stderr(`memory_checker: ${parsed.message}\n`);
      return EXIT.INVALID_VALUE;
  }
  const { options } = parsed;
  try {
    const outcome = await checkMemory(options, settings());
    const code = outcome.status === 'measured' ? exitCodeFor(outcome.usage, options.threshold) : EXIT.OK;
    // stdout stays SONiC's (monit's message, or --json); what needs fixing goes to stderr.
    for (const w of outcome.warnings ?? []) io.stderr(`memory_checker: ${options.container}: ${w}\n`);
    if (options.json) {
      io.stdout(`${JSON.stringify({ ...outcome, threshold: options.threshold, exitCode: code })}\n`);
    } else if (outcome.status === 'measured' && code === EXIT.OVER_THRESHOLD) {
      io.stdout(`${overThresholdMessage(options.container, outcome.usage, options.threshold)}\n`);
    }
    return code;
  } catch (e) {
    const code = e instanceof CheckError ? e.exitCode : EXIT.INTERNAL_ERROR;
    // Never let an error become a 3: only a measured value above the threshold may.
    const safe = code === EXIT.OVER_THRESHOLD ? EXIT.INTERNAL_ERROR : code;
    if (options.json)
      io.stdout(`${JSON.stringify({ status: 'error', container: options.container, error: errorLine(e), exitCode: safe })}\n`);
    io.stderr(`memory_checker: ${options.container}: ${errorLine(e)}\n`);
    return safe;
  }
}

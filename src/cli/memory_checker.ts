// Drop-in for SONiC's /usr/bin/memory_checker <container_name> <threshold_in_bytes>.
import { parseCheckerArgs, USAGE } from '../memory/args.js';
import { EXIT, exitCodeFor, overThresholdMessage, type ExitCode } from '../memory/exit-codes.js';
import { CheckError } from '../memory/errors.js';
import { checkMemory, type CheckerSettings } from '../memory/checker.js';
import { readSettings } from '../settings.js';
import { errorLine } from '../util/errors.js';
import { VERSION } from '../util/version.js';

export async function main(argv: readonly string[], settings: () => CheckerSettings): Promise<ExitCode> {
  const parsed = parseCheckerArgs(argv);
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return EXIT.OK;
    case 'version':
      process.stdout.write(`memory_checker (kubesonic) ${VERSION}\n`);
      return EXIT.OK;
    case 'usage-error':
      process.stderr.write(`memory_checker: ${parsed.message}\n${USAGE.split('\n')[0]}\n`);
      return EXIT.INVALID_VALUE;
    case 'invalid-threshold':
      process.stderr.write(`memory_checker: ${parsed.message}\n`);
      return EXIT.INVALID_VALUE;
  }
  const { options } = parsed;
  try {
    const outcome = await checkMemory(options, settings());
    const code = outcome.status === 'measured' ? exitCodeFor(outcome.usage, options.threshold) : EXIT.OK;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ...outcome, threshold: options.threshold, exitCode: code })}\n`);
    } else if (outcome.status === 'measured' && code === EXIT.OVER_THRESHOLD) {
      process.stdout.write(`${overThresholdMessage(options.container, outcome.usage, options.threshold)}\n`);
    }
    return code;
  } catch (e) {
    const code = e instanceof CheckError ? e.exitCode : EXIT.INTERNAL_ERROR;
    // Never let an error become a 3: only a measured value above the threshold may.
    const safe = code === EXIT.OVER_THRESHOLD ? EXIT.INTERNAL_ERROR : code;
    if (options.json) process.stdout.write(`${JSON.stringify({ status: 'error', container: options.container, error: errorLine(e), exitCode: safe })}\n`);
    process.stderr.write(`memory_checker: ${options.container}: ${errorLine(e)}\n`);
    return safe;
  }
}

main(process.argv.slice(2), () => readSettings()).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`memory_checker: ${errorLine(e)}\n`);
    process.exitCode = EXIT.INTERNAL_ERROR;
  },
);

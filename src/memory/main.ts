// memory_checker's whole run: arguments → check → SONiC's exit code and output. Output goes to
// the two streams given, so tests and the exporter can run it in-process; syslog lines go to the
// port given (host/syslog.ts), with SONiC's tag, texts and priorities (its
// files/image_config/monit/memory_checker): the usage line at INFO, errors at ERR.
import { parseCheckerArgs, USAGE } from './args.js';
import { EXIT, exitCodeFor, overThresholdMessage, type ExitCode } from './exit-codes.js';
import { CheckError } from './errors.js';
import { checkMemory, type CheckerSettings } from './checker.js';
import type { Syslog } from '../host/syslog.js';
import { errorLine } from '../util/errors.js';
import { VERSION } from '../util/version.js';

export interface Streams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface CheckerSyslog {
  syslog: Syslog;
  /**
   * Also SONiC's per-run INFO trail (usage below the threshold, container not running). Off by
   * default: monit runs the check every minute per feature and each logged run spawns `logger`.
   */
  trail: boolean;
}

/** SONiC's syslog texts (tag memory_checker, user facility). */
export const SYSLOG_TEXT = {
  usage: (c: string, usage: number) => `[memory_checker] Total memory usage of container '${c}' is '${usage}' Bytes!`,
  notRunning: (c: string) => `[memory_checker] Exits without checking memory usage since container '${c}' is not running!`,
  invalidThreshold: '[memory_checker] Invalid threshold value! Threshold value should be a positive integer.',
  failed: (c: string, why: string) => `[memory_checker] Failed to get the memory usage of container '${c}': ${why}! Exiting ...`,
};

export async function runMemoryChecker(
  argv: readonly string[],
  settings: () => CheckerSettings,
  io: Streams,
  log: CheckerSyslog = { syslog: { log: () => undefined, flush: async () => undefined }, trail: false },
): Promise<ExitCode> {
  try {
    return await run(argv, settings, io, log);
  } finally {
    // A syslog that cannot be reached changes neither the exit code nor monit's output.
    await log.syslog.flush().catch(() => undefined);
  }
}

async function run(
  argv: readonly string[],
  settings: () => CheckerSettings,
  io: Streams,
  { syslog, trail }: CheckerSyslog,
): Promise<ExitCode> {
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
      syslog.log('err', SYSLOG_TEXT.invalidThreshold);
      return EXIT.INVALID_VALUE;
  }
  const { options } = parsed;
  try {
    const outcome = await checkMemory(options, settings());
    const code = outcome.status === 'measured' ? exitCodeFor(outcome.usage, options.threshold) : EXIT.OK;
    // stdout stays SONiC's (monit's message, or --json); what needs fixing goes to stderr.
    for (const w of outcome.warnings ?? []) io.stderr(`memory_checker: ${options.container}: ${w}\n`);
    if (outcome.status === 'measured' && (trail || code === EXIT.OVER_THRESHOLD))
      syslog.log('info', SYSLOG_TEXT.usage(options.container, outcome.usage));
    else if (outcome.status !== 'measured' && trail) syslog.log('info', SYSLOG_TEXT.notRunning(options.container));
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
    syslog.log('err', SYSLOG_TEXT.failed(options.container, errorLine(e)));
    return safe;
  }
}

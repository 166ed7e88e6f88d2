// Drop-in for SONiC's /usr/bin/memory_checker <container_name> <threshold_in_bytes>.
import { loggerSyslog, noSyslog } from '../host/syslog.js';
import { runMemoryChecker } from '../memory/main.js';
import { EXIT } from '../memory/exit-codes.js';
import { readSettings } from '../settings.js';
import { errorLine } from '../util/errors.js';

const io = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };
const settings = readSettings();
const mode = settings.memoryCheckerSyslog;
const syslog = mode === 'off' ? noSyslog : loggerSyslog({ tag: 'memory_checker', detached: true });

runMemoryChecker(process.argv.slice(2), () => settings, io, { syslog, trail: mode === 'all' }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`memory_checker: ${errorLine(e)}\n`);
    process.exitCode = EXIT.INTERNAL_ERROR;
  },
);

// Drop-in for SONiC's /usr/bin/memory_checker <container_name> <threshold_in_bytes>.
import { runMemoryChecker } from '../memory/main.js';
import { EXIT } from '../memory/exit-codes.js';
import { readSettings } from '../settings.js';
import { errorLine } from '../util/errors.js';

const io = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };

runMemoryChecker(process.argv.slice(2), () => readSettings(), io).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`memory_checker: ${errorLine(e)}\n`);
    process.exitCode = EXIT.INTERNAL_ERROR;
  },
);

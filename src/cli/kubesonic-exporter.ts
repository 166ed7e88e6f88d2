// kubesonic-exporter: memory figures and FEATURE sync health on /metrics — see src/exporter/.
// A bundle of its own, without client-node or yargs: it runs for as long as the switch does.
import { exporterMain } from '../exporter/main.js';
import { readSettings } from '../settings.js';
import { errorLine, exitCodeOf } from '../util/errors.js';
import { out, untilSignal } from './io.js';

exporterMain(process.argv.slice(2), readSettings(), { out, stop: untilSignal() }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`kubesonic-exporter: ${errorLine(e)}\n`);
    process.exitCode = exitCodeOf(e);
  },
);

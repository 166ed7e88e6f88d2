// kubesonic-agent: the per-node agent (and the per-feature sidecar) — see src/feature/agent.ts.
import { agentMain } from '../feature/agent-main.js';
import { readSettings } from '../settings.js';
import { errorLine, exitCodeOf } from '../util/errors.js';
import { log, out, untilSignal } from './commands/common.js';

agentMain(process.argv.slice(2), readSettings(), { out, log, stop: untilSignal() }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`kubesonic-agent: ${errorLine(e)}\n`);
    process.exitCode = exitCodeOf(e);
  },
);

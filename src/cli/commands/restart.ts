import type { CommandModule } from 'yargs';
import { crictlRuntime } from '../../host/cri.js';
import { dockerEngine } from '../../host/docker.js';
import { restartFeature } from '../../pod/restart.js';
import { readSettings } from '../../settings.js';
import { HOLD_DIR, UNIT_STATE_DIR } from '../../sonic/paths.js';
import { nodeOf, out, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  process?: string;
  timeout: number;
}

/** monit's action for a feature over its memory threshold (pod/restart.ts). */
export const restartCommand: CommandModule<object, Args> = {
  command: 'restart <feature>',
  describe: "restart a feature wherever it runs (monit action): the process in its container (native or the pod's), or the container",
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .option('process', { type: 'string', describe: 'supervisord program to restart inside the container (supervisorctl restart)' })
        .option('timeout', { type: 'number', default: 120 }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    const target = { feature: argv.feature, namespace: argv.namespace, node: nodeOf(argv, settings) };
    // In place through the runtime on the switch: no API server needed.
    const ports = { docker: dockerEngine(settings.dockerSocket), runtime: crictlRuntime(settings.cri), cluster: undefined };
    const o = { timeoutMs: argv.timeout * 1000, out, holdDir: HOLD_DIR, unitStateDir: UNIT_STATE_DIR };
    process.exitCode = await restartFeature(target, argv.process, ports, o);
  },
};

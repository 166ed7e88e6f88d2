import type { CommandModule } from 'yargs';
import { dockerEngine } from '../../host/docker.js';
import { connectCluster } from '../../kube/client.js';
import { restartFeature } from '../../pod/restart.js';
import { readSettings } from '../../settings.js';
import { nodeOf, out, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  process?: string;
  timeout: number;
}

/** monit's action for a feature over its memory threshold (pod/restart.ts). */
export const restartCommand: CommandModule<object, Args> = {
  command: 'restart <feature>',
  describe: 'restart a feature wherever it runs (monit action): the process in the native container, or the pod on this node',
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .option('process', { type: 'string', describe: 'supervisord program to restart in a native container' })
        .option('timeout', { type: 'number', default: 120 }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    const target = { feature: argv.feature, namespace: argv.namespace, node: nodeOf(argv, settings) };
    const ports = { docker: dockerEngine(settings.dockerSocket), cluster: () => connectCluster(argv.kubeconfig, settings.api) };
    process.exitCode = await restartFeature(target, argv.process, ports, { timeoutMs: argv.timeout * 1000, out });
  },
};

import { spawnSync } from 'node:child_process';
import type { CommandModule } from 'yargs';
import { dockerSocket, nativeRunning, DockerUnavailable } from '../../docker/api.js';
import { kubeClients, loadKubeConfig } from '../../kube/client.js';
import { restart } from '../../systemd/stub.js';
import { ExitError, nodeName, out, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  process?: string;
  timeout: number;
}

/**
 * monit's action for a feature over its memory threshold. Native container: restart the process
 * inside it as SONiC did (docker exec <f> supervisorctl restart <process>). Kubernetes: restart the
 * pod on this node (the memory is then back to its start, as after the process restart).
 */
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
    let native;
    try {
      native = await nativeRunning(dockerSocket(process.env), argv.feature, Date.now() + 5000);
    } catch (e) {
      if (!(e instanceof DockerUnavailable)) throw e;
    }
    if (native) {
      const args = argv.process ? ['exec', argv.feature, 'supervisorctl', 'restart', argv.process] : ['restart', argv.feature];
      const r = spawnSync('docker', args, { stdio: 'inherit' });
      if (r.status !== 0) throw new ExitError(`docker ${args.join(' ')} exited ${r.status}`, 1);
      return;
    }
    const k = kubeClients(loadKubeConfig(argv.kubeconfig));
    process.exitCode = await restart(k, { feature: argv.feature, namespace: argv.namespace, node: nodeName(argv.node) }, argv.timeout * 1000, out);
  },
};

import type { CommandModule } from 'yargs';
import { kubeClients, loadKubeConfig } from '../../kube/client.js';
import { restart, start, status, stop, waitWhileRunning, STATUS } from '../../systemd/stub.js';
import { dropInPath, stubDropIn } from '../../systemd/unit.js';
import { nodeName, out, systemStopping, withTarget, type TargetArgs } from './common.js';

const ACTIONS = ['start', 'stop', 'restart', 'status', 'wait', 'unit'] as const;
interface Args extends TargetArgs {
  feature: string;
  action: (typeof ACTIONS)[number];
  timeout: number;
}

export const systemdCommand: CommandModule<object, Args> = {
  command: 'systemd <feature> <action>',
  describe: 'what the feature unit runs: start | stop | restart | status | wait (ExecStart), or print the unit drop-in (unit)',
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .positional('action', { choices: ACTIONS, demandOption: true })
        .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for the pod' }),
    ) as never,
  handler: async (argv) => {
    if (argv.action === 'unit') {
      out(`# ${dropInPath(argv.feature)}`);
      process.stdout.write(stubDropIn(argv.feature));
      return;
    }
    const target = { feature: argv.feature, namespace: argv.namespace, node: nodeName(argv.node) };
    let k;
    try {
      k = kubeClients(loadKubeConfig(argv.kubeconfig));
    } catch (e) {
      if (argv.action === 'status') {
        out(`${argv.feature}: status unknown: ${(e as Error).message}`);
        process.exitCode = STATUS.UNKNOWN;
        return;
      }
      throw e;
    }
    const ms = argv.timeout * 1000;
    switch (argv.action) {
      case 'start':
        process.exitCode = await start(k, target, ms, out);
        break;
      case 'stop':
        process.exitCode = await stop(k, target, ms, out, systemStopping());
        break;
      case 'restart':
        process.exitCode = await restart(k, target, ms, out);
        break;
      case 'status':
        process.exitCode = await status(k, target, out);
        break;
      case 'wait': {
        const abort = new AbortController();
        process.once('SIGTERM', () => abort.abort());
        process.exitCode = await waitWhileRunning(k, target, out, { signal: abort.signal });
        break;
      }
    }
  },
};

import type { CommandModule } from 'yargs';
import { dockerSocket, nativeRunning, DockerUnavailable } from '../../docker/api.js';
import { sleep } from '../../kube/client.js';
import { ExitError, out } from './common.js';

interface Args {
  feature: string;
  timeout: number;
}

/** Init container of the feature pod: the pod's feature container may start only once no native container of that name runs. */
export const gateCommand: CommandModule<object, Args> = {
  command: 'gate <feature>',
  describe: 'wait until no natively run Docker container named <feature> is running (pod init step)',
  builder: (y) => y.positional('feature', { type: 'string', demandOption: true }).option('timeout', { type: 'number', default: 300 }),
  handler: async (argv) => {
    const socket = dockerSocket(process.env);
    const until = Date.now() + argv.timeout * 1000;
    for (;;) {
      let native;
      try {
        native = await nativeRunning(socket, argv.feature, Date.now() + 5000);
      } catch (e) {
        if (e instanceof DockerUnavailable) {
          out(`gate ${argv.feature}: no Docker on this node (${e.message}): nothing native can run`);
          return;
        }
        throw e;
      }
      if (!native) {
        out(`gate ${argv.feature}: no native container running, the pod may start`);
        return;
      }
      if (Date.now() > until) throw new ExitError(`gate ${argv.feature}: native container ${native.id.slice(0, 12)} still running after ${argv.timeout} s`, 1);
      out(`gate ${argv.feature}: native container ${native.id.slice(0, 12)} is running; waiting for it to stop`);
      await sleep(2000);
    }
  },
};

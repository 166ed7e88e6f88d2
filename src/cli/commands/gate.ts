import type { CommandModule } from 'yargs';
import { runGate } from '../../host/gate.js';
import { dockerEngine } from '../../host/docker.js';
import { readSettings } from '../../settings.js';
import { out } from './common.js';

interface Args {
  feature: string;
  timeout: number;
}

/** Init container of the seed's sidecar-shape feature pod: the feature container may start only once no native container of that name runs. */
export const gateCommand: CommandModule<object, Args> = {
  command: 'gate <feature>',
  describe: 'wait until no natively run Docker container named <feature> is running (pod init step)',
  builder: (y) => y.positional('feature', { type: 'string', demandOption: true }).option('timeout', { type: 'number', default: 300 }),
  handler: async (argv) => {
    const docker = dockerEngine(readSettings().dockerSocket);
    await runGate(docker, { feature: argv.feature, timeoutMs: argv.timeout * 1000, out });
  },
};

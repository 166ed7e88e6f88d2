import type { CommandModule } from 'yargs';
import { agentMain } from '../../feature/agent-main.js';
import { readSettings } from '../../settings.js';
import { SYNC_READY_FILE, VERSIONS, type MigrationVersion } from '../../sonic/paths.js';
import { log, out, untilSignal, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  migrationVersion?: MigrationVersion;
  unitStateDir?: string;
  hostInterval: number;
  readyFile: string;
}

/** The seed's per-feature sidecar: kubesonic-agent --only <feature> (same code as the node agent). */
export const syncCommand: CommandModule<object, Args> = {
  command: 'sync <feature>',
  describe:
    "sidecar: mirror the feature pod's state on this node into FEATURE and keep the unit in the version's shape ($KUBESONIC_HOST_ROOT)",
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .option('migration-version', { type: 'string', choices: VERSIONS, describe: 'default: $KUBESONIC_MIGRATION_VERSION, else v1' })
        .option('unit-state-dir', { type: 'string', describe: 'write the unit state file here' })
        .option('host-interval', { type: 'number', default: 300, describe: 'seconds between host file checks' })
        .option('ready-file', { type: 'string', default: SYNC_READY_FILE }),
    ) as never,
  handler: async (argv) => {
    const flags = {
      '--namespace': argv.namespace,
      '--node': argv.node,
      '--kubeconfig': argv.kubeconfig,
      '--migration-version': argv.migrationVersion,
    };
    const more = { '--unit-state-dir': argv.unitStateDir, '--host-interval': String(argv.hostInterval), '--ready-file': argv.readyFile };
    const args = Object.entries({ ...flags, ...more }).flatMap(([k, v]) => (v ? [k, v] : []));
    process.exitCode = await agentMain(['--only', argv.feature, ...args], readSettings(), { out, log, stop: untilSignal() });
  },
};

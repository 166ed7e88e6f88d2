import type { CommandModule } from 'yargs';
import { redisFeatureDb } from '../../feature/db.js';
import { runSidecar } from '../../feature/sidecar.js';
import { dockerEngine } from '../../host/docker.js';
import { connectCluster } from '../../kube/client.js';
import { migrationVersion, readSettings } from '../../settings.js';
import { SYNC_READY_FILE, VERSIONS, type MigrationVersion } from '../../sonic/paths.js';
import { log, nodeOf, untilSignal, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  migrationVersion?: MigrationVersion;
  hostRoot?: string;
  hostInterval: number;
  readyFile: string;
}

export const syncCommand: CommandModule<object, Args> = {
  command: 'sync <feature>',
  describe:
    "sidecar: mirror the feature pod's state on this node into FEATURE (CONFIG_DB/STATE_DB) and keep the host's unit in the version's shape",
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .option('migration-version', { type: 'string', choices: VERSIONS, describe: 'default: $KUBESONIC_MIGRATION_VERSION, else v1' })
        .option('host-root', {
          type: 'string',
          describe: 'where the host filesystem is mounted (default: $KUBESONIC_HOST_ROOT); empty: leave host files alone',
        })
        .option('host-interval', { type: 'number', default: 300, describe: 'seconds between host file checks' })
        .option('ready-file', { type: 'string', default: SYNC_READY_FILE }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    const version = argv.migrationVersion ?? migrationVersion(settings);
    const where = {
      namespace: settings.podNamespace ?? argv.namespace,
      node: nodeOf(argv, settings),
      hostRoot: argv.hostRoot ?? settings.hostRoot,
    };
    const opts = { ...where, feature: argv.feature, version, hostIntervalMs: argv.hostInterval * 1000, readyFile: argv.readyFile, log };
    // A long-running loop that retries by itself: Redis commands fail fast while it is away.
    const db = redisFeatureDb(settings.redis, { queueWhileOffline: false });
    const ports = { cluster: connectCluster(argv.kubeconfig, settings.api), db, docker: dockerEngine(settings.dockerSocket) };
    await runSidecar(opts, ports, untilSignal());
    db.close();
  },
};

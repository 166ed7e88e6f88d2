import { writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { kubeClients, loadKubeConfig } from '../../kube/client.js';
import { connect, redisTarget, CONFIG_DB, STATE_DB } from '../../feature/db.js';
import { FeatureSync } from '../../feature/sync.js';
import { VERSIONS, type MigrationVersion } from '../../manifest/spec.js';
import { applyHostFiles, requestReload } from '../../systemd/files.js';
import { featurePlan, RELOAD_REQUEST } from '../../systemd/unit.js';
import { dockerSocket, removeNative } from '../../docker/api.js';
import { nodeName, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  migrationVersion: string;
  hostRoot: string;
  hostInterval: number;
  readyFile: string;
}

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

/** v0: give the unit back; v1: the stub drop-in; v2: the stub and no native container left. */
async function reconcileHost(feature: string, version: MigrationVersion, hostRoot: string): Promise<void> {
  try {
    const r = applyHostFiles(featurePlan(feature, version), hostRoot);
    for (const b of r.backups) log(`[host ${feature}] backed up ${b}`);
    if (r.changed.length) {
      log(`[host ${feature}] ${version}: updated ${r.changed.join(', ')}; requesting daemon-reload`);
      requestReload(hostRoot, RELOAD_REQUEST);
    }
  } catch (e) {
    log(`[host ${feature}] could not reconcile host files: ${(e as Error).message}`);
  }
  if (version === 'v2') {
    try {
      if (await removeNative(dockerSocket(process.env), feature, Date.now() + 10_000)) log(`[host ${feature}] v2: removed the native container ${feature}`);
    } catch (e) {
      log(`[host ${feature}] v2 clean-up skipped: ${(e as Error).message}`);
    }
  }
}

export const syncCommand: CommandModule<object, Args> = {
  command: 'sync <feature>',
  describe: "sidecar: mirror the feature pod's state on this node into FEATURE (CONFIG_DB/STATE_DB) and keep the host's unit in the version's shape",
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .option('migration-version', { type: 'string', default: process.env.KUBESONIC_MIGRATION_VERSION ?? 'v1', choices: VERSIONS as string[] })
        .option('host-root', { type: 'string', default: process.env.KUBESONIC_HOST_ROOT ?? '', describe: 'where the host filesystem is mounted; empty: leave host files alone' })
        .option('host-interval', { type: 'number', default: 300, describe: 'seconds between host file checks' })
        .option('ready-file', { type: 'string', default: '/tmp/kubesonic-sync-ready' }),
    ) as never,
  handler: async (argv) => {
    const node = nodeName(argv.node);
    const namespace = process.env.POD_NAMESPACE || argv.namespace;
    const k = kubeClients(loadKubeConfig(argv.kubeconfig));
    const target = redisTarget(process.env);
    const configDb = connect(target, CONFIG_DB);
    const stateDb = connect(target, STATE_DB);
    for (const c of [configDb, stateDb]) {
      c.on('error', () => undefined); // reconnects are handled by ioredis; failures surface on writes
      c.connect().catch(() => undefined);
    }
    const version = argv.migrationVersion as MigrationVersion;
    let hostTimer: NodeJS.Timeout | undefined;
    if (argv.hostRoot) {
      await reconcileHost(argv.feature, version, argv.hostRoot);
      hostTimer = setInterval(() => void reconcileHost(argv.feature, version, argv.hostRoot), argv.hostInterval * 1000);
    }
    let ready = false;
    const sync = new FeatureSync(k, configDb, stateDb, {
      feature: argv.feature,
      namespace,
      node,
      log,
      onWrite: () => {
        if (!ready) {
          ready = true;
          writeFileSync(argv.readyFile, `${new Date().toISOString()}\n`);
        }
      },
    });
    log(`[sync ${argv.feature}] node ${node}, namespace ${namespace}, ${version}, redis ${target.path ?? `${target.host}:${target.port}`}`);
    await sync.start();
    // `kill -USR2` prints the counters (API requests, Redis writes, last change-to-write latency).
    process.on('SIGUSR2', () => log(`[sync ${argv.feature}] stats ${JSON.stringify(sync.stats)}`));
    await new Promise<void>((resolve) => {
      const finish = () => resolve();
      process.once('SIGTERM', finish);
      process.once('SIGINT', finish);
    });
    // The pod is going away: give the watch a moment to report it and the writer to flush.
    await new Promise((r) => setTimeout(r, 2000));
    clearInterval(hostTimer);
    await sync.stop();
    configDb.disconnect();
    stateDb.disconnect();
  },
};

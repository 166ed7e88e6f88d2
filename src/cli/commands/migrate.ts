import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { kubeClients, loadKubeConfig } from '../../kube/client.js';
import { connect, redisTarget, CONFIG_DB, STATE_DB } from '../../feature/db.js';
import { parseFeatureSpec } from '../../manifest/spec.js';
import { migrateSteps, rollbackSteps, type FlowContext } from '../../migrate/flows.js';
import { runSteps } from '../../migrate/steps.js';
import { dockerSocket } from '../../docker/api.js';
import { resolveSpecPath } from '../spec-path.js';
import { UNIT_DIR } from '../../systemd/unit.js';
import { nodeName, out, systemctl, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  spec?: string;
  dryRun: boolean;
  timeout: number;
  hostRoot: string;
  nodeOnly?: boolean;
}

async function withContext(argv: Args, run: (ctx: FlowContext) => Promise<void>): Promise<void> {
  const file = resolveSpecPath(argv.feature, argv.spec);
  const spec = parseFeatureSpec(readFileSync(file, 'utf8'), file);
  if (spec.feature !== argv.feature) throw new Error(`${file} describes ${spec.feature}, not ${argv.feature}`);
  const target = redisTarget(process.env);
  const configDb = connect(target, CONFIG_DB, { enableOfflineQueue: true, maxRetriesPerRequest: 3, lazyConnect: false });
  const stateDb = connect(target, STATE_DB, { enableOfflineQueue: true, maxRetriesPerRequest: 3, lazyConnect: false });
  try {
    await run({
      spec,
      k: kubeClients(loadKubeConfig(argv.kubeconfig)),
      node: nodeName(argv.node),
      configDb,
      stateDb,
      host: { root: argv.hostRoot, unitDir: UNIT_DIR, systemctl, dockerSocket: dockerSocket(process.env) },
      timeoutMs: argv.timeout * 1000,
      out,
    });
  } finally {
    configDb.disconnect();
    stateDb.disconnect();
  }
}

const builder = (y: import('yargs').Argv) =>
  withTarget(
    y
      .positional('feature', { type: 'string', demandOption: true })
      .option('spec', { type: 'string', describe: 'feature spec (default: /etc/sonic/kubesonic/features/<feature>.yaml)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show each step and whether it is already done; change nothing' })
      .option('timeout', { type: 'number', default: 180, describe: 'seconds to wait for pods' })
      .option('host-root', { type: 'string', default: '/', describe: 'root of the host filesystem' }),
  );

export const migrateCommand: CommandModule<object, Args> = {
  command: 'migrate <feature>',
  describe: 'one-time migration of a native feature container to its DaemonSet pod (idempotent; rerun after a crash)',
  builder: builder as never,
  handler: (argv) => withContext(argv, async (ctx) => {
    await runSteps(migrateSteps(ctx), { dryRun: argv.dryRun, out });
  }),
};

export const rollbackCommand: CommandModule<object, Args> = {
  command: 'rollback <feature>',
  describe: "give the feature back to the image's systemd unit (idempotent); --node-only keeps the DaemonSet for other nodes",
  builder: ((y: import('yargs').Argv) => builder(y).option('node-only', { type: 'boolean', default: false })) as never,
  handler: (argv) => withContext(argv, async (ctx) => {
    await runSteps(rollbackSteps(ctx, { nodeOnly: Boolean(argv.nodeOnly) }), { dryRun: argv.dryRun, out });
  }),
};

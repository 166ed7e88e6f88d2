import type { Argv, CommandModule } from 'yargs';
import { runFlow } from '../../migrate/run.js';
import { readSettings } from '../../settings.js';
import { out, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  spec?: string;
  dryRun: boolean;
  timeout: number;
  hostRoot: string;
}

const builder = (y: Argv) =>
  withTarget(
    y
      .positional('feature', { type: 'string', demandOption: true })
      .option('spec', { type: 'string', describe: 'feature spec (default: /etc/sonic/kubesonic/features/<feature>.yaml)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show each step and whether it is already done; change nothing' })
      .option('timeout', { type: 'number', default: 180, describe: 'seconds to wait for pods' })
      .option('host-root', { type: 'string', default: '/', describe: 'root of the host filesystem' }),
  );

const handler = (flow: 'migrate' | 'rollback') => (argv: Args) =>
  runFlow({ ...argv, flow, timeoutMs: argv.timeout * 1000, out }, readSettings());

export const migrateCommand: CommandModule<object, Args> = {
  command: 'migrate <feature>',
  describe:
    "on a switch: move its native feature container to the cluster's DaemonSet pod — opts this node in, nothing else in the cluster (idempotent; rerun after a crash)",
  builder: builder as never,
  handler: handler('migrate'),
};

export const rollbackCommand: CommandModule<object, Args> = {
  command: 'rollback <feature>',
  describe: "on a switch: give the feature back to the image's systemd unit — opts this node out; other switches untouched (idempotent)",
  // --node-only was 0.x's way to keep the DaemonSet; every rollback is node-only now (accepted, no effect).
  builder: ((y: Argv) => builder(y).option('node-only', { type: 'boolean', default: false, hidden: true })) as never,
  handler: handler('rollback'),
};

import type { Argv, CommandModule } from 'yargs';
import { runClusterSide } from '../../migrate/run.js';
import { readSettings } from '../../settings.js';
import { out } from './common.js';

interface ClusterArgs {
  action: 'apply' | 'remove';
  feature: string;
  spec?: string;
  kubeconfig?: string;
  dryRun: boolean;
  force: boolean;
  allowNoNodes: boolean;
}

export const clusterCommand: CommandModule<object, ClusterArgs> = {
  command: 'cluster <action> <feature>',
  describe:
    "as a cluster admin: apply a feature's DaemonSet (and agent, RBAC) for the fleet, or remove it — refused while a node is opted in, unless --force",
  builder: ((y: Argv) =>
    y
      .positional('action', { choices: ['apply', 'remove'] as const, demandOption: true })
      .positional('feature', { type: 'string', demandOption: true })
      .option('spec', { type: 'string', describe: 'feature spec (default: /etc/sonic/kubesonic/features/<feature>.yaml)' })
      .option('kubeconfig', { type: 'string', describe: "a cluster admin's credentials (default: $KUBECONFIG)" })
      .option('dry-run', { type: 'boolean', default: false, describe: 'show each step and whether it is already done; change nothing' })
      .option('force', { type: 'boolean', default: false, describe: 'remove: even while nodes are opted in (their pods go)' })
      .option('allow-no-nodes', {
        type: 'boolean',
        default: false,
        describe: "apply: even if the spec's nodeSelector matches no node yet",
      })) as never,
  handler: (argv) => runClusterSide({ ...argv, out }, readSettings()),
};

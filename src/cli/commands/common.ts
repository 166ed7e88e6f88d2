// What the command modules share: the target options, printing, and the signal that ends a
// long-running command.
import type { Argv } from 'yargs';

export interface TargetArgs {
  namespace: string;
  node?: string;
  kubeconfig?: string;
}

export function withTarget<T>(y: Argv<T>): Argv<T & TargetArgs> {
  return y
    .option('namespace', { type: 'string', default: 'sonic', describe: 'namespace of the feature pods' })
    .option('node', { type: 'string', describe: 'this node (default: $NODE_NAME, else the host name)' })
    .option('kubeconfig', { type: 'string', describe: 'credentials (default: in-cluster, $KUBECONFIG, kubelet.conf)' }) as Argv<
    T & TargetArgs
  >;
}

/** This node: --node, else the settings' ($NODE_NAME, else the host name), lower-case as Kubernetes has it. */
export const nodeOf = (argv: { node?: string | undefined }, settings: { nodeName: string }): string =>
  (argv.node || settings.nodeName).toLowerCase();

// Printing and the stop signal live in ../io.ts (no yargs there: the lean entries use them too).
export { log, out, untilSignal } from '../io.js';

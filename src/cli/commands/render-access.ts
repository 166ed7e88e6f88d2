import type { CommandModule } from 'yargs';
import { renderClusterAccess, renderSwitchAccess } from '../../manifest/access.js';
import { toYaml } from '../../manifest/yaml.js';

/** One switch's identity and node RBAC (docs/fleet.md); a cluster admin applies it. */
export const renderSwitchAccessCommand: CommandModule<object, { nodes: string[] }> = {
  command: 'render-switch-access <nodes..>',
  describe: "print each switch's ServiceAccount and the RBAC for its own Node (YAML)",
  builder: (y) => y.positional('nodes', { type: 'string', array: true, demandOption: true }) as never,
  handler: (argv) => {
    process.stdout.write(toYaml(argv.nodes.flatMap((n) => renderSwitchAccess(n))));
  },
};

/** What every switch shares: namespaces, pod RBAC and the admission policies (docs/fleet.md). */
export const renderClusterAccessCommand: CommandModule<object, { namespace: string; policy: boolean }> = {
  command: 'render-cluster-access',
  describe: "print the switches' shared RBAC and ValidatingAdmissionPolicies (YAML)",
  builder: (y) =>
    y.option('namespace', { type: 'string', default: 'sonic', describe: 'namespace of the feature pods' }).option('policy', {
      type: 'boolean',
      default: true,
      describe: 'the admission policies (API server 1.30+); --no-policy: RBAC alone',
    }) as never,
  handler: (argv) => {
    process.stdout.write(toYaml(renderClusterAccess({ namespace: argv.namespace, policy: argv.policy })));
  },
};

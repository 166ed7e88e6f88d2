// Command line of kubesonic-agent. Hand-written (as memory_checker's): the agent's bundle carries
// no yargs, so the process that lives as long as the features stays small.
import { FEATURE_NAMESPACE, SYNC_READY_FILE, VERSIONS, type MigrationVersion } from '../sonic/paths.js';

export const AGENT_USAGE = `usage: kubesonic-agent [options]

Keeps FEATURE (CONFIG_DB/STATE_DB), the unit state files and the units' drop-ins of the migrated
features on this node in step with their pods.

options:
  --feature NAME          a feature whose drop-in directory is mounted here (repeat; the agent serves
                          the features migrated on this node: /etc/sonic/kubesonic/migrated)
  --only NAME             the per-feature sidecar: watch and serve NAME's pods only
  --namespace NAME        namespace of the feature pods (default: $POD_NAMESPACE, else sonic)
  --node NAME             this node (default: $NODE_NAME, else the host name)
  --kubeconfig PATH       credentials (default: in-cluster, $KUBECONFIG, the switch's)
  --migration-version V   version for pods without a version annotation (default: $KUBESONIC_MIGRATION_VERSION, else v1)
  --unit-state-dir DIR    write the unit state files here (default: none)
  --host-interval S       seconds between host file checks (default: 300)
  --ready-file PATH       written after the first FEATURE write (default: ${SYNC_READY_FILE})
  -h, --help`;

export interface AgentArgs {
  features: string[];
  only: string | undefined;
  namespace: string | undefined;
  node: string | undefined;
  kubeconfig: string | undefined;
  migrationVersion: MigrationVersion | undefined;
  unitStateDir: string;
  hostIntervalMs: number;
  readyFile: string;
}

export type ParsedAgentArgs = { kind: 'run'; args: AgentArgs } | { kind: 'help' } | { kind: 'usage-error'; message: string };

const FEATURE = /^[a-z][a-z0-9_-]{0,31}$/;
const VALUE_FLAGS = [
  '--feature',
  '--only',
  '--namespace',
  '--node',
  '--kubeconfig',
  '--migration-version',
  '--unit-state-dir',
  '--host-interval',
  '--ready-file',
];

export function parseAgentArgs(argv: readonly string[]): ParsedAgentArgs {
  const args: AgentArgs = {
    features: [],
    only: undefined,
    namespace: undefined,
    node: undefined,
    kubeconfig: undefined,
    migrationVersion: undefined,
    unitStateDir: '',
    hostIntervalMs: 300_000,
    readyFile: SYNC_READY_FILE,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (!VALUE_FLAGS.includes(flag)) return { kind: 'usage-error', message: `unknown argument ${JSON.stringify(arg)}` };
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (!value) return { kind: 'usage-error', message: `option ${flag} needs a value` };
    switch (flag) {
      case '--feature':
      case '--only':
        if (!FEATURE.test(value)) return { kind: 'usage-error', message: `invalid feature name ${JSON.stringify(value)}` };
        if (flag === '--only') args.only = value;
        else args.features.push(value);
        break;
      case '--migration-version':
        if (!(VERSIONS as readonly string[]).includes(value))
          return { kind: 'usage-error', message: `--migration-version must be one of ${VERSIONS.join(', ')}` };
        args.migrationVersion = value as MigrationVersion;
        break;
      case '--host-interval': {
        const s = Number(value);
        if (!Number.isInteger(s) || s < 1 || s > 86_400)
          return { kind: 'usage-error', message: '--host-interval must be 1..86400 seconds' };
        args.hostIntervalMs = s * 1000;
        break;
      }
      case '--namespace':
        args.namespace = value;
        break;
      case '--node':
        args.node = value;
        break;
      case '--kubeconfig':
        args.kubeconfig = value;
        break;
      case '--unit-state-dir':
        args.unitStateDir = value;
        break;
      case '--ready-file':
        args.readyFile = value;
        break;
    }
  }
  if (args.only && args.features.length) return { kind: 'usage-error', message: '--only and --feature exclude each other' };
  return { kind: 'run', args };
}

export const defaultNamespace = (args: AgentArgs, podNamespace: string | undefined): string =>
  args.namespace ?? podNamespace ?? FEATURE_NAMESPACE;

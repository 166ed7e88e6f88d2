// Command line of memory_checker. Hand-written rather than yargs: monit runs this every cycle
// for every container, and the two positional arguments must behave exactly as SONiC's.

import { FEATURE_NAMESPACE } from '../sonic/paths.js';

/** monit's cycle is 60 s and SONiC's checker answers in about a second: the whole check's budget. */
export const DEFAULT_TIMEOUT_MS = 1800;

export const SOURCES = ['auto', 'kube', 'cgroup', 'docker'] as const;
export type SourceChoice = (typeof SOURCES)[number];

export interface CheckerOptions {
  container: string;
  threshold: number;
  json: boolean;
  namespace: string;
  /** --node; undefined: the settings' node name. */
  node: string | undefined;
  source: SourceChoice;
  timeoutMs: number;
  kubeconfig: string | undefined;
}

export type ParsedArgs =
  | { kind: 'run'; options: CheckerOptions }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'usage-error'; message: string }
  | { kind: 'invalid-threshold'; message: string };

export const USAGE = `usage: memory_checker [options] <container_name> <threshold_in_bytes>

Exit 0: below threshold or container not running; 1: internal error;
2: invalid threshold or unreadable value; 3: usage above threshold.

options:
  --json               print the measurement as one JSON object
  --namespace NAME     Kubernetes namespace of the feature pods (default: sonic)
  --node NAME          this node's name (default: $NODE_NAME, else the host name)
  --source SOURCE      auto | kube | cgroup | docker (default: auto)
  --timeout MS         the whole check's time budget (default: 1800); the API server
                       gets 60 % of it, the local steps the rest (all of it with --source kube)
  --kubeconfig PATH    credentials for the API server (default: in-cluster, $KUBECONFIG, kubelet's)
  -h, --help           show this help
  -V, --version        show the version`;

const VALUE_FLAGS = new Set(['--namespace', '--node', '--source', '--timeout', '--kubeconfig']);
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DIGITS = /^[0-9]+$/;

export function parseThreshold(raw: string): number | undefined {
  if (!DIGITS.test(raw)) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) return undefined;
  return value;
}

export function parseCheckerArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '-V' || arg === '--version') return { kind: 'version' };
    if (arg === '--json') {
      json = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const flag = eq === -1 ? arg : arg.slice(0, eq);
      if (!VALUE_FLAGS.has(flag)) return { kind: 'usage-error', message: `unknown option ${JSON.stringify(flag)}` };
      let value: string | undefined;
      if (eq !== -1) value = arg.slice(eq + 1);
      else value = argv[++i];
      if (value === undefined || value === '') return { kind: 'usage-error', message: `option ${flag} needs a value` };
      values.set(flag, value);
      continue;
    }
    positional.push(arg);
  }
  if (positional.length !== 2) {
    return { kind: 'usage-error', message: 'expected exactly two arguments: <container_name> <threshold_in_bytes>' };
  }
  const [container, rawThreshold] = positional as [string, string];
  if (!CONTAINER_NAME.test(container)) {
    return { kind: 'usage-error', message: `invalid container name ${JSON.stringify(container)}` };
  }
  const threshold = parseThreshold(rawThreshold);
  if (threshold === undefined) {
    return {
      kind: 'invalid-threshold',
      message: `threshold must be a positive integer number of bytes, got ${JSON.stringify(rawThreshold)}`,
    };
  }
  const source = values.get('--source') ?? 'auto';
  if (!(SOURCES as readonly string[]).includes(source)) {
    return { kind: 'usage-error', message: `--source must be one of ${SOURCES.join(', ')}` };
  }
  const rawTimeout = values.get('--timeout') ?? String(DEFAULT_TIMEOUT_MS);
  const timeoutMs = DIGITS.test(rawTimeout) ? Number(rawTimeout) : NaN;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 600_000) {
    return { kind: 'usage-error', message: '--timeout must be a number of milliseconds between 1 and 600000' };
  }
  const namespace = values.get('--namespace') ?? FEATURE_NAMESPACE;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    return { kind: 'usage-error', message: `invalid namespace ${JSON.stringify(namespace)}` };
  }
  return {
    kind: 'run',
    options: {
      container,
      threshold,
      json,
      namespace,
      // undefined: this node from the settings ($NODE_NAME, else the host name).
      node: values.get('--node'),
      source: source as SourceChoice,
      timeoutMs,
      kubeconfig: values.get('--kubeconfig'),
    },
  };
}

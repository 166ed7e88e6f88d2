// Command line of kubesonic-exporter. Hand-written (as memory_checker's and the agent's): the
// exporter lives as long as the switch runs, and its bundle carries no yargs.
import { DEFAULT_TIMEOUT_MS } from '../memory/args.js';
import { FEATURE_NAMESPACE } from '../sonic/paths.js';
import { ExitError } from '../util/errors.js';
import { DEFAULT_CACHE_MS, parseCacheMs, parseFeatureArg, type ExportedFeature } from './exporter.js';

/** The features served when none is named: those SONiC's monit watches (monit/). */
export const DEFAULT_FEATURES = ['bmp', 'snmp', 'telemetry', 'gnmi'];
export const DEFAULT_LISTEN = '127.0.0.1:9732';

export const EXPORTER_USAGE = `usage: kubesonic-exporter [options]

Serves the memory figures of the features on this node (memory_checker's code and sources) and
FEATURE sync health on http://<listen>/metrics for Prometheus; /healthz answers ok.

options:
  --feature F[=BYTES]   a feature, with its threshold in bytes (repeat; default: ${DEFAULT_FEATURES.join(', ')}
                        with the thresholds of their monit stanzas)
  --listen HOST:PORT    where to serve (default: ${DEFAULT_LISTEN})
  --timeout MS          time budget of one feature's check (default: ${DEFAULT_TIMEOUT_MS})
  --cache-ms MS         collect in the background every MS ms and answer scrapes from the last
                        collection; 0: every scrape waits for a collection of its own (default: ${DEFAULT_CACHE_MS})
  --no-state-db         do not read STATE_DB FEATURE (no sync health series)
  --namespace NAME      namespace of the feature pods (default: ${FEATURE_NAMESPACE})
  --node NAME           this node (default: $NODE_NAME, else the host name)
  --kubeconfig PATH     credentials (default: in-cluster, $KUBECONFIG, the switch's)
  -h, --help`;

export interface ExporterArgs {
  features: ExportedFeature[];
  listen: string;
  timeoutMs: number;
  cacheMs: number;
  stateDb: boolean;
  namespace: string;
  node: string | undefined;
  kubeconfig: string | undefined;
}

export type ParsedExporterArgs = { kind: 'run'; args: ExporterArgs } | { kind: 'help' } | { kind: 'usage-error'; message: string };

const VALUE_FLAGS = ['--feature', '--listen', '--timeout', '--cache-ms', '--namespace', '--node', '--kubeconfig'];

/** A whole number of ms from the command line; NaN for anything else (parseCacheMs and the timeout check reject it). */
const wholeMs = (value: string): number => (/^[0-9]+$/.test(value) ? Number(value) : Number.NaN);

/**
 * Every argument is checked here, before Redis or the API server is touched: a bad one exits at
 * once (2), not after a hang. Feature and --cache-ms messages are the same as `kubesonic exporter`'s.
 */
export function parseExporterArgs(argv: readonly string[]): ParsedExporterArgs {
  try {
    return parse(argv);
  } catch (e) {
    if (e instanceof ExitError) return { kind: 'usage-error', message: e.message };
    throw e;
  }
}

function parse(argv: readonly string[]): ParsedExporterArgs {
  const features: string[] = [];
  const args: ExporterArgs = {
    features: [],
    listen: DEFAULT_LISTEN,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    cacheMs: DEFAULT_CACHE_MS,
    stateDb: true,
    namespace: FEATURE_NAMESPACE,
    node: undefined,
    kubeconfig: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '--no-state-db' || arg === '--state-db') {
      args.stateDb = arg === '--state-db';
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (!VALUE_FLAGS.includes(flag)) return { kind: 'usage-error', message: `unknown argument ${JSON.stringify(arg)}` };
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (!value) return { kind: 'usage-error', message: `option ${flag} needs a value` };
    switch (flag) {
      case '--feature':
        features.push(value);
        break;
      case '--listen':
        if (!/^.+:[0-9]+$/.test(value)) return { kind: 'usage-error', message: `--listen must be host:port, got ${JSON.stringify(value)}` };
        args.listen = value;
        break;
      case '--timeout': {
        const ms = wholeMs(value);
        if (!(ms > 0))
          return { kind: 'usage-error', message: `--timeout must be a whole number of milliseconds above 0, got ${JSON.stringify(value)}` };
        args.timeoutMs = ms;
        break;
      }
      case '--cache-ms':
        args.cacheMs = parseCacheMs(wholeMs(value));
        break;
      case '--namespace':
        args.namespace = value;
        break;
      case '--node':
        args.node = value;
        break;
      case '--kubeconfig':
        args.kubeconfig = value;
        break;
    }
  }
  args.features = (features.length ? features : DEFAULT_FEATURES).map(parseFeatureArg);
  return { kind: 'run', args };
}

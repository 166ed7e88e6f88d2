import type { CommandModule } from 'yargs';
import { DEFAULT_FEATURES, DEFAULT_LISTEN } from '../../exporter/args.js';
import { DEFAULT_CACHE_MS, parseCacheMs, parseFeatureArg, runExporter } from '../../exporter/exporter.js';
import { exporterDb } from '../../exporter/main.js';
import { DEFAULT_TIMEOUT_MS } from '../../memory/args.js';
import { readSettings } from '../../settings.js';
import { out, untilSignal, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string[];
  listen: string;
  timeout: number;
  cacheMs: number;
  stateDb: boolean;
}

export const exporterCommand: CommandModule<object, Args> = {
  command: 'exporter',
  describe:
    'serve the memory figures of the features on this node (memory_checker code) and sync health on /metrics (= kubesonic-exporter)',
  builder: (y) =>
    withTarget(
      y
        .option('feature', {
          type: 'string',
          array: true,
          default: DEFAULT_FEATURES,
          describe: 'feature or feature=threshold_bytes (default thresholds: the monit stanzas)',
        })
        .option('listen', { type: 'string', default: DEFAULT_LISTEN })
        .option('timeout', { type: 'number', default: DEFAULT_TIMEOUT_MS, describe: 'ms per feature check' })
        .option('cache-ms', { type: 'number', default: DEFAULT_CACHE_MS, describe: 'answer scrapes from a collection this recent' })
        .option('state-db', { type: 'boolean', default: true, describe: 'read STATE_DB FEATURE for sync health' }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    // Every argument is checked before Redis is connected: a bad one exits at once (2), not after a hang.
    const features = argv.feature.map(parseFeatureArg);
    const cacheMs = parseCacheMs(argv.cacheMs);
    const db = argv.stateDb ? exporterDb(settings) : undefined;
    const { namespace, node, kubeconfig, timeout: timeoutMs } = argv;
    const opts = { features, namespace, node, kubeconfig, timeoutMs, cacheMs, settings, db };
    await runExporter(opts, argv.listen, out, untilSignal());
  },
};

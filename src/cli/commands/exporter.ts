import type { CommandModule } from 'yargs';
import { parseFeatureArg, runExporter } from '../../exporter/exporter.js';
import { redisFeatureDb } from '../../feature/redis-db.js';
import { DEFAULT_TIMEOUT_MS } from '../../memory/args.js';
import { readSettings } from '../../settings.js';
import { out, untilSignal, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string[];
  listen: string;
  timeout: number;
  stateDb: boolean;
}

export const exporterCommand: CommandModule<object, Args> = {
  command: 'exporter',
  describe: 'serve the memory figures of the features on this node (memory_checker code) and sync health on /metrics',
  builder: (y) =>
    withTarget(
      y
        .option('feature', {
          type: 'string',
          array: true,
          default: ['bmp', 'snmp', 'telemetry', 'gnmi'],
          describe: 'feature or feature=threshold_bytes (default thresholds: the monit stanzas)',
        })
        .option('listen', { type: 'string', default: '127.0.0.1:9732' })
        .option('timeout', { type: 'number', default: DEFAULT_TIMEOUT_MS, describe: 'ms per feature check' })
        .option('state-db', { type: 'boolean', default: true, describe: 'read STATE_DB FEATURE for sync health' }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    const features = argv.feature.map(parseFeatureArg);
    const db = argv.stateDb ? redisFeatureDb(settings.redis, { queueWhileOffline: false }) : undefined;
    const opts = {
      features,
      namespace: argv.namespace,
      node: argv.node,
      kubeconfig: argv.kubeconfig,
      timeoutMs: argv.timeout,
      settings,
      db,
    };
    await runExporter(opts, argv.listen, out, untilSignal());
  },
};

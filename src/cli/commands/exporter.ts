import type { CommandModule } from 'yargs';
import { MemoryExporter, parseFeatureArg } from '../../exporter/exporter.js';
import { connect, redisTarget, STATE_DB } from '../../feature/db.js';
import { out, withTarget, type TargetArgs } from './common.js';

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
        .option('feature', { type: 'string', array: true, default: ['bmp', 'snmp', 'telemetry', 'gnmi'], describe: 'feature or feature=threshold_bytes (default thresholds: the monit stanzas)' })
        .option('listen', { type: 'string', default: '127.0.0.1:9732' })
        .option('timeout', { type: 'number', default: 1800, describe: 'ms per feature check' })
        .option('state-db', { type: 'boolean', default: true, describe: 'read STATE_DB FEATURE for sync health' }),
    ) as never,
  handler: async (argv) => {
    const features = argv.feature.map(parseFeatureArg);
    const m = /^(.*):([0-9]+)$/.exec(argv.listen);
    if (!m) throw new Error(`--listen must be host:port, got ${argv.listen}`);
    const stateDb = argv.stateDb ? connect(redisTarget(process.env), STATE_DB, { enableOfflineQueue: false }) : undefined;
    stateDb?.on('error', () => undefined);
    stateDb?.connect().catch(() => undefined);
    const exporter = new MemoryExporter({ features, namespace: argv.namespace, node: argv.node, kubeconfig: argv.kubeconfig, timeoutMs: argv.timeout, env: process.env, stateDb });
    const server = await exporter.listen(m[1]!, Number(m[2]));
    out(`kubesonic exporter on http://${argv.listen}/metrics for ${features.map((f) => f.feature).join(', ')}`);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    server.close();
    stateDb?.disconnect();
  },
};

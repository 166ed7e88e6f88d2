// kubesonic-exporter's whole run: arguments and settings → the exporter with its real ports → exit
// code. `kubesonic exporter` runs the same exporter (runExporter) with the same STATE_DB client.
import { leanFeatureDb } from '../feature/lean-db.js';
import type { Settings } from '../settings.js';
import { ExitError } from '../util/errors.js';
import { EXPORTER_USAGE, parseExporterArgs } from './args.js';
import { runExporter } from './exporter.js';

export interface ExporterIo {
  out: (line: string) => void;
  stop: AbortSignal;
}

export async function exporterMain(argv: readonly string[], settings: Settings, io: ExporterIo): Promise<number> {
  const parsed = parseExporterArgs(argv);
  if (parsed.kind === 'help') {
    io.out(EXPORTER_USAGE);
    return 0;
  }
  if (parsed.kind === 'usage-error') throw new ExitError(parsed.message, 2);
  const { args } = parsed;
  const { features, namespace, node, kubeconfig, timeoutMs, cacheMs } = args;
  const db = args.stateDb ? exporterDb(settings) : undefined;
  await runExporter({ features, namespace, node, kubeconfig, timeoutMs, cacheMs, settings, db }, args.listen, io.out, io.stop);
  return 0;
}

/**
 * STATE_DB for the sync health series: the agent's small RESP client (ioredis would be ≈ 11 MiB of
 * the exporter's RSS). A read while Redis is away fails at once: that feature's sync series is
 * dropped for the collection, the memory figures are unaffected.
 */
export const exporterDb = (settings: Pick<Settings, 'redis'>) => leanFeatureDb(settings.redis);

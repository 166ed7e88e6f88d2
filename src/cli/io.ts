// What every long-running entry point shares: printing, and the signal that ends it. Nothing here
// may load yargs: the lean bundles (kubesonic-agent, kubesonic-exporter) use it.

export const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Lines of a long-running process carry a timestamp. */
export const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

/** Aborted on SIGTERM or SIGINT: how systemd and the kubelet stop a long-running command. */
export function untilSignal(): AbortSignal {
  const abort = new AbortController();
  process.once('SIGTERM', () => abort.abort());
  process.once('SIGINT', () => abort.abort());
  return abort.signal;
}

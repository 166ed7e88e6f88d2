import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
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
    .option('kubeconfig', { type: 'string', describe: 'credentials (default: in-cluster, $KUBECONFIG, kubelet.conf)' }) as Argv<T & TargetArgs>;
}

export function nodeName(explicit?: string): string {
  return (explicit || process.env.NODE_NAME || hostname()).toLowerCase();
}

export const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function systemctl(args: string[]): { code: number; stdout: string } {
  const r = spawnSync('systemctl', args, { encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** True while systemd is shutting the system down (stop must then not disable the feature). */
export function systemStopping(): boolean {
  const r = spawnSync('systemctl', ['is-system-running'], { encoding: 'utf8' });
  return (r.stdout ?? '').trim() === 'stopping';
}

/** An error carrying the process exit code (yargs' fail handler reads it). */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

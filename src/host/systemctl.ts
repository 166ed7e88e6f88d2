// systemd on the switch, behind one small port (kind's exec.Cmder idea): the migrate steps and
// the unit stub only ever call `systemctl`, so tests can hand them test/fakes/systemctl.ts.
import { spawnSync } from 'node:child_process';

export interface SystemctlResult {
  code: number;
  /** stdout and stderr together, for error messages. */
  output: string;
}

export interface Systemctl {
  run(args: readonly string[]): SystemctlResult;
}

export const realSystemctl: Systemctl = {
  run(args) {
    const r = spawnSync('systemctl', args, { encoding: 'utf8' });
    return { code: r.status ?? 1, output: (r.stdout ?? '') + (r.stderr ?? '') };
  },
};

/** True while systemd is shutting the system down: the unit's stop must then not disable the feature. */
export function systemStopping(systemctl: Systemctl): boolean {
  return systemctl.run(['is-system-running']).output.trim() === 'stopping';
}

export function unitActive(systemctl: Systemctl, unit: string): boolean {
  return systemctl.run(['is-active', '--quiet', unit]).code === 0;
}

/** Run a systemctl command that must succeed; its failure is one line naming the command. */
export function mustSystemctl(systemctl: Systemctl, args: readonly string[]): void {
  const r = systemctl.run(args);
  if (r.code !== 0)
    throw new Error(`systemctl ${args.join(' ')} exited ${r.code}${r.output.trim() ? `: ${r.output.trim().split('\n')[0]}` : ''}`);
}

/** featured's disable masks the unit (`systemctl mask`): it must not be started until unmasked. */
export function unitMasked(systemctl: Systemctl, unit: string): boolean {
  return systemctl.run(['is-enabled', unit]).output.trim() === 'masked';
}

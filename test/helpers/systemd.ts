// The test switch's systemd (testbed/systemd-ns.sh): a real PID 1 on its own overlay root.
import { join } from 'node:path';
import { REPO, mustRun, run, runAsync, type RunResult } from './procs.js';

const SCRIPT = join(REPO, 'testbed', 'systemd-ns.sh');

export const systemdUp = (): string => mustRun('bash', [SCRIPT, 'up']);
export const systemdDown = (): string => mustRun('bash', [SCRIPT, 'down']);
export const systemdRoot = (): string => mustRun('bash', [SCRIPT, 'root']).trim();

/** The arguments of `bash systemd-ns.sh exec`: the command in the test switch, with extra environment. */
const switchExec = (args: string[], env: Record<string, string>): string[] => [
  SCRIPT,
  'exec',
  'env',
  ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
  ...args,
];

/** Run a command on the test switch (its mount/pid namespaces and root), with extra environment. */
export const onSwitch = (args: string[], env: Record<string, string> = {}): RunResult => run('bash', switchExec(args, env));

/** `onSwitch` for a command that waits (migrate, rollback): the test's process keeps running meanwhile. */
export const onSwitchAsync = (args: string[], env: Record<string, string> = {}): Promise<RunResult> =>
  runAsync('bash', switchExec(args, env));

export const systemctl = (...args: string[]): RunResult => onSwitch(['systemctl', ...args]);

// The test switch's systemd (testbed/systemd-ns.sh): a real PID 1 on its own overlay root.
import { join } from 'node:path';
import { REPO, mustRun, run, runAsync, type RunResult } from './procs.js';

const SCRIPT = join(REPO, 'testbed', 'systemd-ns.sh');

export const systemdUp = (): string => mustRun('bash', [SCRIPT, 'up']);
export const systemdDown = (): string => mustRun('bash', [SCRIPT, 'down']);
export const systemdRoot = (): string => mustRun('bash', [SCRIPT, 'root']).trim();

/** Run a command on the test switch (its mount/pid namespaces and root), with extra environment. */
export function onSwitch(args: string[], env: Record<string, string> = {}): RunResult {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run('bash', [SCRIPT, 'exec', 'env', ...envArgs, ...args]);
}

/** `onSwitch` for a command that waits (migrate, rollback): the test's process keeps running meanwhile. */
export function onSwitchAsync(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return runAsync('bash', [SCRIPT, 'exec', 'env', ...envArgs, ...args]);
}

export const systemctl = (...args: string[]): RunResult => onSwitch(['systemctl', ...args]);

// Starting and stopping the real services tests talk to. Every process started here is
// recorded so the global teardown can stop anything a failed test left behind, by pid.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const TEST_ROOT = process.env.KUBESONIC_TEST_ROOT || '/var/lib/kubesonic-test';
export const PID_REGISTRY = join(TEST_ROOT, 'pids');
export const REPO = new URL('../../', import.meta.url).pathname;
export const CHECKER = join(REPO, 'dist', 'memory_checker.mjs');
export const KUBESONIC = join(REPO, 'dist', 'kubesonic.mjs');

export interface Daemon {
  name: string;
  pid: number;
  log: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  alive(): boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

export function startDaemon(name: string, command: string, args: string[], options: SpawnOptions & { logDir: string }): Daemon {
  mkdirSync(options.logDir, { recursive: true });
  const log = join(options.logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { ...options, stdio: ['ignore', fd, fd], detached: true });
  if (!child.pid) throw new Error(`${name}: failed to start ${command}`);
  const pid = child.pid;
  child.unref();
  mkdirSync(dirname(PID_REGISTRY), { recursive: true });
  appendFileSync(PID_REGISTRY, `${pid} ${name}\n`);
  return {
    name,
    pid,
    log,
    alive: () => alive(pid),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await stopPid(pid, signal);
    },
  };
}

export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!alive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (alive(pid)) await sleep(50);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < until) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): RunResult {
  const started = Date.now();
  const r = spawnSync(command, args, { env, encoding: 'utf8', input, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - started };
}

/**
 * `run` without blocking the test's process: for commands that wait (migrate, rollback). A test
 * process blocked for over a minute misses vitest's own RPC deadline ("Timeout calling
 * onTaskUpdate": seen in CI on a 72 s rollback) and stops the tests' own monitors from sampling.
 */
export function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${e.message}`, ms: Date.now() - started });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export function mustRun(command: string, args: string[], env?: NodeJS.ProcessEnv, input?: string): string {
  const r = run(command, args, env, input);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export function runChecker(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  return run(process.execPath, [CHECKER, ...args], { PATH: process.env.PATH, ...env });
}

/** Binaries built by testbed/build.sh (cached by version). */
export function testbedBin(): string {
  const out = mustRun('bash', [join(REPO, 'testbed', 'build.sh')])
    .trim()
    .split('\n')
    .pop()!;
  if (!existsSync(join(out, 'memhog'))) throw new Error(`testbed build did not produce ${out}/memhog`);
  return out;
}

/** Every process on the machine named exactly `comm` (a feature's daemon, in whichever container runs it). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

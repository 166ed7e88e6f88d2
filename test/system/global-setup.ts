// Builds what the system tests run (the bundled CLIs, the testbed binaries) once, and stops
// anything a failed test left running.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { PID_REGISTRY, REPO, TEST_ROOT, stopPid } from '../helpers/procs.js';

async function stopLeftovers(): Promise<void> {
  if (!existsSync(PID_REGISTRY)) return;
  const pids = readFileSync(PID_REGISTRY, 'utf8')
    .split('\n')
    .map((l) => Number(l.split(' ')[0]))
    .filter((p) => p > 1);
  for (const pid of pids.reverse()) await stopPid(pid, 'SIGTERM', 10_000);
  rmSync(PID_REGISTRY, { force: true });
}

function stopTestSwitch(): void {
  execFileSync('bash', ['testbed/systemd-ns.sh', 'down'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
}

export async function setup(): Promise<void> {
  mkdirSync(TEST_ROOT, { recursive: true });
  stopTestSwitch();
  await stopLeftovers();
  execFileSync(process.execPath, ['scripts/bundle.mjs'], { cwd: REPO, stdio: 'inherit' });
  execFileSync('bash', ['testbed/build.sh'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  // One real cluster for the whole run (about 40 s warm); the tests share it.
  const started = Date.now();
  execFileSync('bash', ['testbed/cluster.sh', 'up'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  process.stderr.write(`[global-setup] cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

export async function teardown(): Promise<void> {
  stopTestSwitch();
  execFileSync('bash', ['testbed/cluster.sh', 'down'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  await stopLeftovers();
}

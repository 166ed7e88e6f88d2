// The unit's ExecStart once migrated (systemd/unit.ts unitWaitScript), run by the real /bin/sh over
// a unit state directory: it lasts while the pod runs, ends 0 on a disable, 1 when the pod stays
// gone, 0 on SIGTERM, and decides nothing while the state is unknown.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitWaitScript } from '../../src/systemd/unit.js';
import { sleep } from '../../src/util/wait.js';

function waiter(grace = 4) {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-units-'));
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', String(grace)], { env: { PATH: process.env.PATH, KUBESONIC_UNIT_STATE_DIR: dir } });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c, signal) => {
      code = c ?? (signal ? 128 : null);
      resolve(code);
    }),
  );
  return {
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
    child,
    exited,
    running: () => code === undefined,
    output: () => output,
  };
}

describe('unit-wait.sh (ExecStart of a migrated unit)', () => {
  it.concurrent('exits 0 with one line once the feature is disabled', async () => {
    const w = waiter();
    w.state('running');
    await sleep(300);
    expect(w.running()).toBe(true);
    w.state('disabled');
    expect(await w.exited).toBe(0);
    expect(w.output()).toBe('bmp: pod gone and bmp disabled on this node\n');
  });

  it.concurrent('exits 1 once the pod has stayed gone without a disable for the grace time', async () => {
    const w = waiter(4);
    w.state('stopped');
    const started = Date.now();
    expect(await w.exited).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(w.output()).toBe('bmp: no pod on this node for 4 s and no disable taint\n');
  });

  it.concurrent('a pod back within the grace time resets it', async () => {
    const w = waiter(4);
    w.state('stopped');
    await sleep(2500);
    w.state('pending');
    await sleep(3000);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('no state file (after a reboot, or the agent not there yet): keeps waiting; SIGTERM ends it with 0', async () => {
    const w = waiter(2);
    await sleep(4500);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});

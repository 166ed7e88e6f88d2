// The unit's ExecStart once migrated (systemd/unit.ts unitWaitScript), run by the real /bin/sh over
// a unit state directory: it lasts while the pod runs, ends 0 on a disable, 1 when the pod stays
// gone, 0 on SIGTERM, and decides nothing while the state is unknown.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitWaitScript } from '../../src/systemd/unit.js';
import { sleep, waitUntil } from '../../src/util/wait.js';

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

/**
 * The fallback, with the switch's tools as small scripts on PATH: crictl (what the runtime runs),
 * redis-cli (CONFIG_DB's no_fallback_to_local, and the STATE_DB write), and the image's launcher.
 */
function fallbackWaiter(opts: { fallback?: number; noFallback?: string; runtime?: 'clear' | 'running' | 'error' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-fallback-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const tool = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const runtime = opts.runtime ?? 'clear';
  tool('crictl', runtime === 'error' ? 'exit 1' : runtime === 'running' ? 'echo 4e3b0c4d5e6f' : 'exit 0');
  tool(
    'redis-cli',
    `echo "$*" >> ${dir}/redis.log\ncase "$*" in *hget*) ${opts.noFallback === undefined ? ':' : `echo '${opts.noFallback}'`} ;; esac`,
  );
  tool(
    'native.sh',
    `echo "$1" >> ${dir}/native.log\ncase $1 in start) touch ${dir}/running ;; stop) rm -f ${dir}/running ;; wait) while [ -e ${dir}/running ]; do sleep 0.2; done ;; esac`,
  );
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', '60'], {
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      KUBESONIC_UNIT_STATE_DIR: dir,
      KUBESONIC_FALLBACK_SECONDS: String(opts.fallback ?? 4),
      KUBESONIC_NATIVE: join(bin, 'native.sh'),
    },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      code = c;
      resolve(c);
    }),
  );
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  return {
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
    stopNative: () => rmSync(join(dir, 'running'), { force: true }),
    native: () => read('native.log').trim().split('\n').filter(Boolean),
    redis: () => read('redis.log'),
    unitState: () => read('bmp'),
    child,
    exited,
    running: () => code === undefined,
    output: () => output,
  };
}

describe('unit-wait.sh: local fallback and hand-back', () => {
  it.concurrent('no pod for the fallback delay: runs the native launcher, says so; a pod back: stops it (hand-back)', async () => {
    const w = fallbackWaiter();
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    expect(w.output()).toMatch(/^bmp: no pod from Kubernetes for 4 s: falling back to the native container \(\S+\/native\.sh start\)\n$/);
    await waitUntil('unit state local', 3000, async () => (w.unitState().startsWith('local ') ? true : undefined), 100);
    expect(w.unitState()).toMatch(/^local \d+\n$/);
    expect(w.redis()).toMatch(/-n 6 hset FEATURE\|bmp current_owner local remote_state none/);
    // The agent is back and sees the pod waiting at its gate.
    w.state('pending');
    await waitUntil('native stop', 5000, async () => (w.native().includes('stop') ? true : undefined), 100);
    expect(w.native()).toEqual(['start', 'wait', 'stop']);
    expect(w.output()).toMatch(/Kubernetes has a pod for bmp on this node again: stopping the native container/);
    w.state('running');
    await sleep(2500);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent('CONFIG_DB no_fallback_to_local exactly "true": stays down, says why once', async () => {
    const w = fallbackWaiter({ noFallback: 'true' });
    await sleep(9000);
    expect(w.native()).toEqual([]);
    expect(w.output()).toBe("bmp: no pod from Kubernetes for 4 s; CONFIG_DB no_fallback_to_local is 'true': staying down\n");
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });

  it.concurrent.each(['yes', 'True', '1', 'false'])('no_fallback_to_local %j is not "true": falls back', async (value) => {
    const w = fallbackWaiter({ noFallback: value });
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent.each([
    ['a feature container running', 'running' as const],
    ['the runtime not answering', 'error' as const],
  ])('%s: no fallback', async (_label, runtime) => {
    const w = fallbackWaiter({ runtime });
    await sleep(8000);
    expect(w.native()).toEqual([]);
    expect(w.output()).toMatch(/container runtime shows a bmp container running \(or does not answer\): no fallback\n$/);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('a pod that is only slow (pending: a long image pull) is never fallen back from', async () => {
    const w = fallbackWaiter();
    w.state('pending');
    await sleep(8000);
    expect(w.native()).toEqual([]);
    expect(w.running()).toBe(true);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it.concurrent('the native container ending on its own in local mode: exit 1', async () => {
    const w = fallbackWaiter();
    await waitUntil('native start', 9000, async () => (w.native().includes('start') ? true : undefined), 100);
    w.stopNative();
    expect(await w.exited).toBe(1);
    expect(w.output()).toMatch(/bmp: the native container ended\n$/);
  });
});

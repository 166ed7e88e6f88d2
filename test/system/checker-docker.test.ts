// memory_checker on natively run SONiC containers: a real dockerd, real cgroup v1 files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { startDockerd, runFeatureContainer, setFeatureMemory, type Dockerd } from '../helpers/docker.js';
import { runChecker, testbedBin, waitFor } from '../helpers/procs.js';
import { dockerEngine } from '../../src/host/docker.js';

const MiB = 1024 * 1024;
let d: Dockerd;
let env: NodeJS.ProcessEnv;

/** What the kernel says, read independently of the checker: usage - total_inactive_file. */
function kernelWorkingSet(id: string): number {
  const dir = `/sys/fs/cgroup/memory/docker/${id}`;
  const usage = Number(readFileSync(`${dir}/memory.usage_in_bytes`, 'utf8'));
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(`${dir}/memory.stat`, 'utf8'))![1]);
  return usage - inactive;
}

function measure(name: string, threshold = 1): { usage: number; exitCode: number; source: string; cgroup: string } {
  const r = runChecker(['--json', name, String(threshold)], env);
  return JSON.parse(r.stdout) as { usage: number; exitCode: number; source: string; cgroup: string };
}

beforeAll(async () => {
  d = await startDockerd(testbedBin());
  env = { DOCKER_HOST: d.host, KUBECONFIG: '/nonexistent', NODE_NAME: 'vm' };
  runFeatureContainer(d, 'bmp_watchdog', 'memhog', 16);
  runFeatureContainer(d, 'bmp', 'openbmpd', 96);
  await waitFor('bmp at 96 MiB', () => measure('bmp').usage > 90 * MiB, 30_000);
});

afterAll(async () => {
  await d?.stop();
});

describe('memory_checker with a real dockerd', () => {
  it('reads the container named exactly bmp, not bmp_watchdog', () => {
    const bmpId = d.docker('inspect', '-f', '{{.Id}}', 'bmp').trim();
    const bmp = measure('bmp');
    const watchdog = measure('bmp_watchdog');
    expect(bmp.cgroup).toContain(bmpId);
    expect(bmp.usage).toBeGreaterThan(90 * MiB);
    expect(watchdog.usage).toBeLessThan(40 * MiB);
    expect(Math.abs(bmp.usage - kernelWorkingSet(bmpId))).toBeLessThan(4 * MiB);
  });

  it('exits 3 with SONiC message above the threshold, 0 below, from the unchanged two-argument line', () => {
    const over = runChecker(['bmp', String(64 * MiB)], env);
    expect(over.code).toBe(3);
    expect(over.stdout).toMatch(/^\[bmp\]: Memory usage \(\d+ Bytes\) is larger than the threshold \(67108864 Bytes\)!\n$/);
    const under = runChecker(['bmp', String(512 * MiB)], env);
    expect(under).toMatchObject({ code: 0, stdout: '' });
  });

  it('follows the container as it grows past the threshold and back', async () => {
    setFeatureMemory(d, 'bmp', 300);
    await waitFor('bmp over 256 MiB', () => runChecker(['bmp', String(256 * MiB)], env).code === 3, 30_000);
    setFeatureMemory(d, 'bmp', 40);
    await waitFor('bmp back under 256 MiB', () => runChecker(['bmp', String(256 * MiB)], env).code === 0, 30_000);
  });

  it.each([
    [['bm', '1'], 0],
    [['bmp_watchdo', '1'], 0],
    [['snmp', '1'], 0],
    [['bmp', 'abc'], 2],
    [['bmp', '-1'], 2],
    [['bmp'], 2],
  ])('%j exits %d with no stack trace', (args, code) => {
    const r = runChecker(args, env);
    expect(r.code).toBe(code);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.split('\n').filter(Boolean).length).toBeLessThanOrEqual(2);
  });

  it('a stopped container is "not running": exit 0', () => {
    d.docker('stop', '-t', '1', 'bmp_watchdog');
    expect(runChecker(['bmp_watchdog', '1'], env).code).toBe(0);
  });

  it('v2 clean-up removes the native container named exactly so, and nothing else', async () => {
    runFeatureContainer(d, 'bmp_native_copy', 'memhog', 8);
    expect(await dockerEngine(d.socket).removeNative('bmp_native', Date.now() + 10_000)).toBe(false);
    expect(await dockerEngine(d.socket).removeNative('bmp_watchdog', Date.now() + 10_000)).toBe(true);
    const names = d.docker('ps', '-a', '--format', '{{.Names}}').split('\n').filter(Boolean).sort();
    expect(names).toEqual(['bmp', 'bmp_native_copy']);
  });

  it('no docker at all is exit 0, as SONiC when docker is not active', () => {
    expect(runChecker(['bmp', '1'], { ...env, DOCKER_HOST: 'unix:///nonexistent.sock' }).code).toBe(0);
  });
});

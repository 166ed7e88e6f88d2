// memory_checker on a real cgroup v1 memory controller: a process that holds a known amount of
// memory in a cgroup of its own, found the way the checker finds a kubelet container when the API
// server is down (containerd's task state names the cgroup and the pid).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_ROOT, runChecker, stopPid, testbedBin, waitFor } from '../helpers/procs.js';

const MiB = 1024 * 1024;
const CGROUP = `kubesonic-test-${process.pid}`;
const CGROUP_DIR = `/sys/fs/cgroup/memory/${CGROUP}`;
const STATE = join(TEST_ROOT, 'fake-containerd');
const CONTAINER_ID = 'c0ffee'.padEnd(64, '0');
const CONTROL = join(TEST_ROOT, 'cgroup-v1-alloc');
let hog: ChildProcess;

function env(): NodeJS.ProcessEnv {
  return { KUBESONIC_CONTAINERD_STATE: STATE, KUBECONFIG: '/nonexistent', DOCKER_HOST: 'unix:///nonexistent.sock', NODE_NAME: 'vm' };
}

function kernelWorkingSet(): number {
  const usage = Number(readFileSync(`${CGROUP_DIR}/memory.usage_in_bytes`, 'utf8'));
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(`${CGROUP_DIR}/memory.stat`, 'utf8'))![1]);
  return usage - inactive;
}

beforeAll(async () => {
  const bin = testbedBin();
  mkdirSync(CGROUP_DIR);
  writeFileSync(CONTROL, '64');
  // The shell joins the cgroup before exec, so every page memhog touches is charged there.
  hog = spawn('sh', ['-c', `echo $$ > ${CGROUP_DIR}/cgroup.procs && exec ${bin}/memhog ${CONTROL}`], { stdio: 'ignore' });
  const task = join(STATE, 'io.containerd.runtime.v2.task', 'k8s.io', CONTAINER_ID);
  mkdirSync(task, { recursive: true });
  writeFileSync(join(task, 'init.pid'), String(hog.pid));
  writeFileSync(
    join(task, 'config.json'),
    JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.container-name': 'bmp',
        'io.kubernetes.cri.sandbox-namespace': 'sonic',
        'io.kubernetes.cri.sandbox-name': 'bmp-test',
        'io.kubernetes.cri.sandbox-uid': 'uid',
      },
      linux: { cgroupsPath: `/${CGROUP}` },
    }),
  );
  await waitFor('64 MiB charged to the cgroup', () => kernelWorkingSet() > 60 * MiB, 20_000);
});

afterAll(async () => {
  if (hog?.pid) await stopPid(hog.pid);
  await waitFor('cgroup empty', () => readFileSync(`${CGROUP_DIR}/cgroup.procs`, 'utf8').trim() === '', 10_000).catch(() => undefined);
  rmdirSync(CGROUP_DIR);
  rmSync(STATE, { recursive: true, force: true });
});

describe('memory_checker on a real cgroup v1', () => {
  it('reports the kernel working set (usage_in_bytes - total_inactive_file)', () => {
    const r = runChecker(['--json', 'bmp', '1'], env());
    const out = JSON.parse(r.stdout) as { usage: number; source: string; via: string; cgroup: string };
    expect(out).toMatchObject({ source: 'cgroup', via: 'containerd', cgroup: CGROUP_DIR });
    expect(Math.abs(out.usage - kernelWorkingSet())).toBeLessThan(2 * MiB);
    expect(out.usage).toBeGreaterThan(60 * MiB);
  });

  it('exits 3 above the threshold and 0 below it', async () => {
    writeFileSync(CONTROL, '200');
    await waitFor('200 MiB', () => kernelWorkingSet() > 195 * MiB, 20_000);
    const over = runChecker(['bmp', String(150 * MiB)], env());
    expect(over.code).toBe(3);
    expect(over.stdout).toContain(`is larger than the threshold (${150 * MiB} Bytes)!`);
    expect(runChecker(['bmp', String(300 * MiB)], env()).code).toBe(0);
  });

  it('a process that is gone is "not running", never a stale number', async () => {
    const pid = hog.pid!;
    await stopPid(pid);
    expect(runChecker(['bmp', '1'], env()).code).toBe(0);
  });
});

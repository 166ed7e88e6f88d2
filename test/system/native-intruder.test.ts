// A native container started behind the pod's back, on real parts: SONiC's bmp.service under the
// test switch's systemd, migrated onto the real cluster; then `docker start bmp` (what an operator,
// an old v0 sidecar or a script does) in the real dockerd while the pod owns bmp. The unit's shell
// (unit-wait.sh, its docker events watcher) must stop it within 5 s of its start, say it in the
// journal, count it in STATE_DB, and leave the pod and CONFIG_DB alone.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  clusterEnv,
  clusterSide,
  removeClusterSide,
  installSwitchKubeconfig,
  kube,
  podsOf,
  removeFeature,
  setFeatureMiB,
  testbedSpec,
} from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/docker.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, onSwitchAsync, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { REPO, testbedBin, waitFor } from '../helpers/procs.js';
import { sleep } from '../../src/util/wait.js';
import { podContainerRunning } from '../../src/kube/cluster.js';
import { dockerEngine } from '../../src/host/docker.js';
import { NATIVE_STOPPED_FIELD } from '../../src/feature/state.js';

const k = kube();
const SPEC = join(REPO, 'testbed', 'features', 'bmp-e2e.yaml');
let docker: Dockerd;
let redis: TestRedis;
let config: Redis;
let state: Redis;
let env: Record<string, string>;

const node = () => clusterEnv().NODE_NAME;
const nativeUp = async () =>
  (await dockerEngine(docker.socket)
    .nativeRunning('bmp', Date.now() + 5000)
    .catch(() => undefined)) !== undefined;
const podRunning = async () => (await podsOf(k, 'bmp', node())).some((p) => podContainerRunning(p, 'bmp'));
const unitActive = () => systemctl('is-active', 'bmp.service').stdout.trim();

async function bmpPod(): Promise<{ uid: string; restarts: number }> {
  const [p] = await podsOf(k, 'bmp', node());
  return {
    uid: p?.metadata?.uid ?? '',
    restarts: p?.status?.containerStatuses?.find((c) => c.name === 'bmp')?.restartCount ?? -1,
  };
}

/** The switch's processes whose parent is `pid` (its pid namespace), as [pid, comm]. */
function childrenOnSwitch(pid: string): [string, string][] {
  return onSwitch(['ps', '-o', 'pid=,comm=', '--ppid', pid])
    .stdout.split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f): f is [string, string] => f.length === 2);
}

/** The unit shell's watcher: the subshell and its blocked `docker events`, once it follows dockerd. */
function watcherOnSwitch(): { events: string; rssKiB: number; subshellRssKiB: number } | undefined {
  const mainPid = systemctl('show', 'bmp.service', '--property=MainPID', '--value').stdout.trim();
  for (const [sub, comm] of childrenOnSwitch(mainPid)) {
    if (comm !== 'sh') continue;
    const events = childrenOnSwitch(sub).find(([, c]) => c === 'docker')?.[0];
    if (!events) continue;
    const rss = (p: string) => Number(onSwitch(['ps', '-o', 'rss=', '-p', p]).stdout.trim());
    return { events, rssKiB: rss(events), subshellRssKiB: rss(sub) };
  }
  return undefined;
}

beforeAll(async () => {
  docker = await startDockerd(testbedBin());
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  await config.flushall();
  await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
  systemdUp();
  const root = systemdRoot();
  await installSwitchKubeconfig(root);
  clusterSide('apply', 'bmp', SPEC);
  // The test dockerd is not at SONiC's /var/run/docker.sock: the unit (its shell's docker CLI) is
  // told where it is, as a switch's docker finds its own. Gone with the switch's tmpfs in afterAll.
  mkdirSync(join(root, 'etc/systemd/system/bmp.service.d'), { recursive: true });
  writeFileSync(
    join(root, 'etc/systemd/system/bmp.service.d/50-test-docker-host.conf'),
    `[Service]\nEnvironment=DOCKER_HOST=${docker.host}\n`,
  );
  systemctl('daemon-reload');
  env = {
    KUBECONFIG: '/etc/sonic/kubesonic/kubeconfig',
    KUBESONIC_REDIS_SOCKET: REDIS_SOCKET,
    DOCKER_HOST: docker.host,
    NODE_NAME: node(),
  };
  setFeatureMiB('bmp', 24);
  const start = systemctl('start', 'bmp.service');
  expect(start.code, start.stderr).toBe(0);
  await waitFor('native bmp', nativeUp, 30_000);
  const m = await onSwitchAsync(['kubesonic', 'migrate', 'bmp', '--spec', SPEC, '--timeout', '180'], env);
  expect(m.code, m.stdout + m.stderr).toBe(0);
  await waitFor('bmp pod running', podRunning, 120_000);
  await waitFor('unit state running', async () => onSwitch(['cat', '/run/kubesonic/units/bmp']).stdout.startsWith('running'), 60_000);
  await waitFor('the unit shell follows docker events', async () => watcherOnSwitch() !== undefined, 30_000);
}, 400_000);

afterAll(async () => {
  const rolledBack = await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC, '--timeout', '180'], env ?? {});
  if (rolledBack.code !== 0) {
    // Say why, and leave the cluster clean for the next file all the same.
    process.stderr.write(`[native-intruder] rollback exited ${rolledBack.code}:\n${rolledBack.stdout}${rolledBack.stderr}\n`);
    await removeFeature(k, testbedSpec('bmp-e2e')).catch((e: unknown) =>
      process.stderr.write(`[native-intruder] clean-up: ${String(e)}\n`),
    );
  }
  removeClusterSide('bmp', SPEC);
  try {
    systemdDown();
  } finally {
    await docker?.stop();
    await redis?.stop();
  }
}, 300_000);

describe('a native bmp container started behind the pod’s back', () => {
  it('is stopped within 5 s of its start, said and counted; the pod and CONFIG_DB untouched', async () => {
    const podBefore = await bmpPod();
    const configBefore = await config.hgetall('FEATURE|bmp');
    expect(await state.hget('FEATURE|bmp', NATIVE_STOPPED_FIELD)).toBeNull();
    expect(await nativeUp()).toBe(false);
    const watcher = watcherOnSwitch();
    expect(watcher).toBeDefined();
    process.stderr.write(
      `[native-intruder] watcher RSS: docker events ${watcher?.rssKiB} KiB, its subshell ${watcher?.subshellRssKiB} KiB\n`,
    );

    // The native container migrate stopped (bmp.sh created it), started by hand.
    const started = Date.now();
    docker.docker('start', 'bmp');
    await waitFor('native bmp stopped', async () => !(await nativeUp()), 10_000, 50);
    const seen = Date.now() - started;
    // dockerd's own clock: from the container's start to its end.
    const [startedAt, finishedAt] = docker.docker('inspect', '-f', '{{.State.StartedAt}} {{.State.FinishedAt}}', 'bmp').trim().split(' ');
    const upMs = new Date(finishedAt ?? '').getTime() - new Date(startedAt ?? '').getTime();
    process.stderr.write(
      `[native-intruder] native bmp ran ${upMs} ms (dockerd's StartedAt→FinishedAt); seen stopped ${seen} ms after docker start\n`,
    );
    expect(upMs).toBeGreaterThanOrEqual(0);
    expect(upMs).toBeLessThan(5000);
    expect(seen).toBeLessThan(5000);

    await waitFor('counted', async () => (await state.hget('FEATURE|bmp', NATIVE_STOPPED_FIELD)) !== null, 5000, 100);
    expect(await state.hget('FEATURE|bmp', NATIVE_STOPPED_FIELD)).toBe('1');
    const journal = onSwitch(['journalctl', '-u', 'bmp.service', '--no-pager', '-o', 'cat']).stdout;
    expect(journal).toMatch(
      /bmp: a native bmp container was started behind the pod's back while the pod owns bmp \(unit state running\): stopped it/,
    );

    expect(await podRunning()).toBe(true);
    expect(await bmpPod()).toEqual(podBefore);
    expect(await config.hgetall('FEATURE|bmp')).toEqual(configBefore);
    expect(configBefore).toEqual(SONIC_BMP_FEATURE);
    expect(unitActive()).toBe('active');
    // Still following: the same docker events process, not one restarted after a fault.
    expect(watcherOnSwitch()?.events).toBe(watcher?.events);
  }, 60_000);

  it('rollback hands the count back with the feature: STATE_DB has no native_stopped_count, the native container runs', async () => {
    const r = await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC, '--timeout', '180'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await state.hget('FEATURE|bmp', NATIVE_STOPPED_FIELD)).toBeNull();
    // The image's unit started it again: no watcher is left to stop it.
    await waitFor('native bmp (the image unit)', nativeUp, 30_000);
    await sleep(3000);
    expect(await nativeUp()).toBe(true);
  }, 240_000);
});

// A migrated switch rebooting while the control plane is away, on real parts: the test switch's
// systemd (power cycled, its disk kept), the node (kubelet and containerd restarted, every pod
// process gone), dockerd and Redis restarted; the API server stopped across the reboot.
//   - the unit falls back to the image's own container after the spec's fallback delay, says so
//     (STATE_DB current_owner=local, `kubesonic systemd bmp status`), and never ends in start-limit-hit;
//   - with CONFIG_DB no_fallback_to_local=true it stays down and says why;
//   - once the API server is back Kubernetes takes bmp back with no step by hand: the pod's
//     container waits in its wrapper under the native marker (the unit put it on before its
//     fallback; no container of the pod mounts the Docker socket), the unit stops the native one,
//     removes the marker once docker ps shows none, and the pod's daemon starts;
//   - a 250 ms monitor counts the feature's daemons on the machine the whole time: never two.
import { join } from 'node:path';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  clusterEnv,
  CLUSTER_SCRIPT,
  clusterSide,
  removeClusterSide,
  installSwitchKubeconfig,
  kube,
  kubeconfigFor,
  podsOf,
  removeFeature,
  setFeatureMiB,
  startComponent,
  stopComponent,
  testbedSpec,
} from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/docker.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, onSwitchAsync, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { mustRun, pidsNamed, REPO, run, testbedBin, waitFor } from '../helpers/procs.js';
import { podContainerRunning } from '../../src/kube/cluster.js';
import { dockerEngine } from '../../src/host/docker.js';
import { sleep } from '../../src/util/wait.js';

const k = kube();
const SPEC = join(REPO, 'testbed', 'features', 'bmp-e2e.yaml');
const FALLBACK_S = 20;
let docker: Dockerd;
let redis: TestRedis;
let config: Redis;
let state: Redis;
let env: Record<string, string>;
let monitor: NodeJS.Timeout;
let samples = 0;
const bothSeen: string[] = [];
/** Consecutive monitor samples that saw two daemons: the longest dual-run window is this × 250 ms. */
let bothStreak = 0;
let longestBothStreak = 0;
/**
 * What `npm run bench` reports from this scenario (scripts/bench.sh runs this file with
 * KUBESONIC_BENCH_FIGURES set and bench/reboot.mjs writes bench/reboot.md): measured here, on the
 * real parts, asserted by the tests below, written only when asked.
 */
const figures: {
  bootToNativeS?: number;
  handBackS?: number;
  randomReturns: { backAfterS: number; fellBack: boolean; podAfterS: number }[];
} = { randomReturns: [] };

const node = () => clusterEnv().NODE_NAME;
const kubesonic = (...args: string[]) => onSwitchAsync(['kubesonic', ...args], env);
const nativeUp = async () =>
  (await dockerEngine(docker.socket)
    .nativeRunning('bmp', Date.now() + 5000)
    .catch(() => undefined)) !== undefined;
const podRunning = async () => (await podsOf(k, 'bmp', node())).some((p) => podContainerRunning(p, 'bmp'));
const unitActive = () => systemctl('is-active', 'bmp.service').stdout.trim();
/** The bmp pod runs a container the kubelet started after `ms` (not a status left from before the reboot). */
const podStartedSince = async (ms: number) =>
  (await podsOf(k, 'bmp', node())).some((p) => {
    const started = p.status?.containerStatuses?.find((c) => c.name === 'bmp')?.state?.running?.startedAt;
    return podContainerRunning(p, 'bmp') && started !== undefined && new Date(started).getTime() >= ms;
  });

/** The native marker on the switch's disk (host/hold.ts), as the pod's hostPath sees it. */
const nativeMark = () => join(systemdRoot(), 'etc/sonic/kubesonic/hold/bmp.native');

/** The feature's daemons on the machine: the native container's and the pod's alike. */
const daemons = (): number => pidsNamed('openbmpd').length;

/** What the bmp pod, its container's log (the wrapper says why it waits) and the hold directory show, for a failure's message. */
async function diagnose(): Promise<string> {
  const out: string[] = [];
  try {
    for (const p of await podsOf(k, 'bmp', node())) {
      out.push(`pod ${p.metadata?.name} phase=${p.status?.phase} containers=${JSON.stringify(p.status?.containerStatuses ?? [])}`);
      const log = await k.core
        .readNamespacedPodLog({ name: p.metadata?.name ?? '', namespace: 'sonic', container: 'bmp', tailLines: 20 })
        .catch((e: unknown) => `(no log: ${String(e).slice(0, 200)})`);
      out.push(`log: ${String(log)}`);
    }
  } catch (e) {
    out.push(`pods: ${String(e).slice(0, 200)}`);
  }
  try {
    const n = await k.core.readNode({ name: node() });
    out.push(`node taints=${JSON.stringify(n.spec?.taints ?? [])} labels=${JSON.stringify(n.metadata?.labels ?? {})}`);
    const ds = await k.apps.listNamespacedDaemonSet({ namespace: 'sonic' });
    out.push(
      `daemonsets: ${ds.items.map((d) => `${d.metadata?.name} desired=${d.status?.desiredNumberScheduled} ready=${d.status?.numberReady}`).join(', ')}`,
    );
  } catch (e) {
    out.push(`node: ${String(e).slice(0, 200)}`);
  }
  out.push(`hold on the switch: ${onSwitch(['ls', '-la', '/etc/sonic/kubesonic/hold']).stdout}`);
  out.push(`hold from the host: ${run('ls', ['-la', join(systemdRoot(), 'etc/sonic/kubesonic/hold')]).stdout}`);
  out.push(`journal: ${onSwitch(['journalctl', '-u', 'bmp.service', '--no-pager', '-o', 'cat', '-n', '30']).stdout}`);
  return out.join('\n');
}

/** The switch and its node power-cycled; the API server stays as the test left it. */
async function reboot(): Promise<void> {
  // The node first: its pods (the agent among them) end before the switch's /run starts empty.
  mustRun('bash', [CLUSTER_SCRIPT, 'reboot-node']);
  mustRun('bash', [join(REPO, 'testbed', 'systemd-ns.sh'), 'reboot']);
  await docker.daemon.stop();
  run('umount', [join(docker.socket, '..', 'data')]);
  docker = await startDockerd(testbedBin());
  await redis.restart();
  // STATE_DB starts empty at boot; CONFIG_DB comes from config_db.json.
  await state.flushdb();
  copyFileSync(kubeconfigFor('operator'), join(systemdRoot(), 'etc/sonic/kubesonic/kubeconfig'));
}

/** featured's start of the enabled feature at boot. */
function bootStart(): void {
  const r = systemctl('start', 'bmp.service');
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  docker = await startDockerd(testbedBin());
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  await config.flushall();
  await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
  systemdUp();
  await installSwitchKubeconfig(systemdRoot());
  clusterSide('apply', 'bmp', SPEC);
  // The test dockerd is not at SONiC's /var/run/docker.sock: the unit (its shell's docker CLI, which
  // clears the native marker after a hand-back) is told where it is, as a switch's docker finds its
  // own. On the switch's disk, so it outlives the reboots; gone with the switch's tmpfs in afterAll.
  mkdirSync(join(systemdRoot(), 'etc/systemd/system/bmp.service.d'), { recursive: true });
  writeFileSync(
    join(systemdRoot(), 'etc/systemd/system/bmp.service.d/50-test-docker-host.conf'),
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
  bootStart();
  await waitFor('native bmp', nativeUp, 30_000);
  const m = await kubesonic('migrate', 'bmp', '--spec', SPEC, '--timeout', '180');
  expect(m.code, m.code === 0 ? '' : `${m.stdout}${m.stderr}\n${await diagnose()}`).toBe(0);
  await waitFor('bmp pod running', podRunning, 120_000);
  monitor = setInterval(() => {
    samples++;
    if (daemons() > 1) {
      bothSeen.push(new Date().toISOString());
      longestBothStreak = Math.max(longestBothStreak, ++bothStreak);
    } else bothStreak = 0;
  }, 250);
}, 400_000);

afterAll(async () => {
  clearInterval(monitor);
  startComponent('kube-apiserver');
  await config?.hdel('FEATURE|bmp', 'no_fallback_to_local');
  const rolledBack = await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC, '--timeout', '180'], env ?? {});
  if (rolledBack.code !== 0) {
    // Say why, and leave the cluster clean for the next file all the same (its pods must not be ours).
    process.stderr.write(`[reboot] rollback exited ${rolledBack.code}:\n${rolledBack.stdout}${rolledBack.stderr}\n`);
    await removeFeature(k, testbedSpec('bmp-e2e')).catch((e: unknown) => process.stderr.write(`[reboot] clean-up: ${String(e)}\n`));
  }
  removeClusterSide('bmp', SPEC);
  try {
    systemdDown();
  } finally {
    await docker?.stop();
    await redis?.stop();
  }
}, 300_000);

describe('a migrated switch reboots with the API server away', () => {
  it(`falls back to the native container within the fallback delay (${FALLBACK_S} s) + 30 s, and says so`, async () => {
    stopComponent('kube-apiserver');
    await reboot();
    const booted = Date.now();
    bootStart();
    expect(unitActive()).toBe('active');
    await waitFor('native bmp (local fallback)', nativeUp, (FALLBACK_S + 30) * 1000);
    figures.bootToNativeS = (Date.now() - booted) / 1000;
    expect(Date.now() - booted).toBeGreaterThanOrEqual(FALLBACK_S * 1000 - 2000);
    expect(unitActive()).toBe('active');
    await waitFor('STATE_DB current_owner=local', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 10_000);
    const status = await kubesonic('systemd', 'bmp', 'status');
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/running natively \(local fallback: no pod from Kubernetes\), container [0-9a-f]{12}/);
    const checker = onSwitch(['memory_checker', '--json', 'bmp', '1'], env);
    expect(JSON.parse(checker.stdout)).toMatchObject({ via: 'docker' });
    expect(systemctl('show', 'bmp.service', '--property=Result').stdout.trim()).toBe('Result=success');
  }, 180_000);

  it('API server back: the pod waits in its wrapper (native marker), the native container is stopped, the marker goes, the pod runs — by itself', async () => {
    // The unit put the native marker on before its fallback started the native container.
    expect(existsSync(nativeMark())).toBe(true);
    startComponent('kube-apiserver');
    const back = Date.now();
    // The pod's status from before the reboot says "running" until the kubelet reports again: wait
    // for a container started after the API server came back.
    await waitFor('bmp pod running again', () => podStartedSince(back - 5000), 180_000).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await diagnose()}`);
    });
    expect(await nativeUp()).toBe(false);
    expect(daemons()).toBe(1);
    expect(unitActive()).toBe('active');
    figures.handBackS = (Date.now() - back) / 1000;
    process.stderr.write(`[reboot] hand-back: pod running ${figures.handBackS.toFixed(1)} s after the API server came back\n`);
    const journal = onSwitch(['journalctl', '-u', 'bmp.service', '--no-pager', '-o', 'cat']).stdout;
    expect(journal).toMatch(/Kubernetes has a pod for bmp on this node again: stopping the native container/);
    expect(journal).toMatch(
      /no native bmp container runs \(docker ps\): removed the native marker \/etc\/sonic\/kubesonic\/hold\/bmp\.native/,
    );
    expect(existsSync(nativeMark())).toBe(false);
    await waitFor(
      "STATE_DB current_owner=local with the pod's container",
      async () => /^[0-9a-f]{12}$/.test((await state.hget('FEATURE|bmp', 'container_id')) ?? ''),
      30_000,
    );
  }, 240_000);

  it('no_fallback_to_local=true: stays down and says why; the pod comes once the API server is back', async () => {
    await config.hset('FEATURE|bmp', 'no_fallback_to_local', 'true');
    stopComponent('kube-apiserver');
    await reboot();
    bootStart();
    await sleep((FALLBACK_S + 15) * 1000);
    expect(await nativeUp()).toBe(false);
    expect(daemons()).toBe(0);
    expect(unitActive()).toBe('active');
    expect(systemctl('status', 'bmp.service', '--no-pager', '-n', '20').stdout).toMatch(/no_fallback_to_local is 'true': staying down/);
    expect((await kubesonic('systemd', 'bmp', 'status')).code).toBe(3);
    const back = Date.now();
    startComponent('kube-apiserver');
    await waitFor('bmp pod running again', () => podStartedSince(back - 5000), 180_000);
    await config.hdel('FEATURE|bmp', 'no_fallback_to_local');
  }, 300_000);

  it('the API server back at a random point around the fallback delay: the pod runs, native gone; a fallback, if any, handed back', async () => {
    stopComponent('kube-apiserver');
    await reboot();
    const booted = Math.floor(Date.now() / 1000);
    bootStart();
    // Before the delay, or after it: whether the agent reports the pod in time decides between no
    // fallback and a fallback handed back; both must end with the pod alone (the monitor runs throughout).
    const delay = Math.floor(Math.random() * (FALLBACK_S + 10) * 1000);
    await sleep(delay);
    const back = Date.now();
    startComponent('kube-apiserver');
    await waitFor('bmp pod running again', () => podStartedSince(back - 5000), 180_000);
    const podAfterS = (Date.now() - back) / 1000;
    await waitFor('no native bmp', async () => !(await nativeUp()), 30_000);
    expect(daemons()).toBe(1);
    // The same kernel boot to journald (the test switch shares it): this boot's lines by time.
    const journal = onSwitch(['journalctl', '-u', 'bmp.service', '--no-pager', '-o', 'cat', '--since', `@${booted}`]).stdout;
    const fellBack = /falling back/.test(journal);
    if (fellBack) expect(journal).toMatch(/Kubernetes has a pod for bmp on this node again: stopping the native container/);
    figures.randomReturns.push({ backAfterS: delay / 1000, fellBack, podAfterS });
    process.stderr.write(
      `[reboot] API server back ${(delay / 1000).toFixed(1)} s after the unit started: ${fellBack ? 'fell back, handed back' : 'no fallback'}\n`,
    );
  }, 300_000);

  it('never both: the monitor never saw two bmp daemons on the machine; CONFIG_DB FEATURE|bmp as configured', async () => {
    expect(samples).toBeGreaterThan(100);
    if (process.env.KUBESONIC_BENCH_FIGURES)
      writeFileSync(
        process.env.KUBESONIC_BENCH_FIGURES,
        JSON.stringify({ ...figures, fallbackS: FALLBACK_S, samples, longestDualRunMs: longestBothStreak * 250 }),
      );
    expect(bothSeen).toEqual([]);
    // No reboot, fallback or hand-back wrote the operator's table (the test's own flag is gone again).
    expect(await config.hgetall('FEATURE|bmp')).toEqual(SONIC_BMP_FEATURE);
  });
});

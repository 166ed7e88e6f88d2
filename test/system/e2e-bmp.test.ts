// The seed's bmp walk-through, end to end, on real parts: SONiC's bmp.service under a real systemd
// (own root, own pid/cgroup namespaces) running the native container in a real dockerd; then
// (the cluster side applied by an admin's `kubesonic cluster apply`) `kubesonic migrate` with the
// switch's own identity (a per-node ServiceAccount token) onto the real cluster, disable/enable through systemctl (taint), restart,
// and `kubesonic rollback`. The native container and the pod are never seen running together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import {
  clusterEnv,
  clusterSide,
  removeClusterSide,
  installSwitchKubeconfig,
  kube,
  podsOf,
  setFeatureMiB,
  startComponent,
  stopComponent,
  taintDisabled,
} from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/docker.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, onSwitchAsync, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { mustRun, pidsNamed, REPO, testbedBin, waitFor } from '../helpers/procs.js';
import { optInLabel } from '../../src/kube/ids.js';
import { FEATURE_REF } from '../../testbed/image.js';
import { sleep } from '../../src/util/wait.js';
import { disableTaint, hasTaint, podContainerRunning, stopTaint } from '../../src/kube/cluster.js';
import { dockerEngine } from '../../src/host/docker.js';
import { stubDropIn } from '../../src/systemd/unit.js';
import { agentFeatures } from '../../src/manifest/render.js';

const k = kube();
const SPEC = join(REPO, 'testbed', 'features', 'bmp-e2e.yaml');
let docker: Dockerd;
let redis: TestRedis;
let config: Redis;
let state: Redis;
let root: string;
let env: Record<string, string>;
const violations: string[] = [];
/** Every write to CONFIG_DB FEATURE|bmp, by anyone, recorded with Redis MONITOR for the whole walk-through. */
const configWrites: string[][] = [];
let monitor4: { disconnect(): void } | undefined;
let monitor: NodeJS.Timeout;

const kubesonic = (...args: string[]) => onSwitchAsync(['kubesonic', ...args], env);
const node = () => clusterEnv().NODE_NAME;
const podRunning = async () => (await podsOf(k, 'bmp', node())).some((p) => podContainerRunning(p, 'bmp'));
const nativeUp = async () => (await dockerEngine(docker.socket).nativeRunning('bmp', Date.now() + 5000)) !== undefined;
const unitActive = () => systemctl('is-active', 'bmp.service').stdout.trim();
const NEXT_REF = 'localhost/kubesonic/feature:2';
/** The bmp pod on this node as the tests compare it across restarts. */
async function bmpPod(): Promise<{ uid: string; restarts: number; image: string }> {
  const [p] = await podsOf(k, 'bmp', node());
  const cs = p?.status?.containerStatuses?.find((c) => c.name === 'bmp');
  return {
    uid: p?.metadata?.uid ?? '',
    restarts: cs?.restartCount ?? -1,
    image: p?.spec?.containers.find((c) => c.name === 'bmp')?.image ?? '',
  };
}

beforeAll(async () => {
  docker = await startDockerd(testbedBin());
  redis = await startRedis();
  config = redis.db(4);
  state = redis.db(6);
  await config.flushall();
  await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
  const monitorClient = redis.db(4);
  const m = await monitorClient.monitor();
  m.on('monitor', (_time: string, args: string[], _source: string, database: string) => {
    const [cmd, key] = args;
    if (database === '4' && key === 'FEATURE|bmp' && /^(hset|hdel|del|hmset|hsetnx)$/i.test(cmd ?? ''))
      configWrites.push(args.map((a, i) => (i === 0 ? a.toLowerCase() : a)));
  });
  monitor4 = m;
  systemdUp();
  root = systemdRoot();
  // The switch's own identity (docs/fleet.md), and the cluster side applied once by an admin.
  await installSwitchKubeconfig(root);
  clusterSide('apply', 'bmp', SPEC);
  env = {
    KUBECONFIG: '/etc/sonic/kubesonic/kubeconfig',
    KUBESONIC_REDIS_SOCKET: REDIS_SOCKET,
    DOCKER_HOST: docker.host,
    NODE_NAME: node(),
  };
  setFeatureMiB('bmp', 40);
  const start = systemctl('start', 'bmp.service');
  expect(start.code, start.stderr).toBe(0);
  await waitFor('native bmp container', nativeUp, 30_000);
  monitor = setInterval(() => {
    void Promise.all([nativeUp().catch(() => false), podRunning().catch(() => false)]).then(([n, p]) => {
      if (n && p) violations.push(new Date().toISOString());
    });
  }, 250);
}, 300_000);

afterAll(async () => {
  clearInterval(monitor);
  monitor4?.disconnect();
  await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC], env ?? {});
  await taintDisabled(k, 'bmp', false).catch(() => undefined);
  removeClusterSide('bmp', SPEC);
  try {
    systemdDown();
  } finally {
    await docker?.stop();
    await redis?.stop();
  }
});

describe('the seed walk-through: migrate, disable by taint, enable, rollback', () => {
  it('starts native: SONiC unit, Docker container named bmp, memory_checker finds it', () => {
    expect(unitActive()).toBe('active');
    const r = onSwitch(['memory_checker', '--json', 'bmp', '1'], env);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'measured', via: 'docker' });
  });

  it('migrate --dry-run shows every step and changes nothing', async () => {
    const r = await kubesonic('migrate', 'bmp', '--spec', SPEC, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^\[\d\/8\] [a-z-]+: would /gm)).toHaveLength(8);
    expect(await nativeUp()).toBe(true);
    // The cluster side is there (the admin's); the switch side changed nothing: not opted in, no pod.
    expect((await k.core.readNode({ name: node() })).metadata?.labels?.[optInLabel('bmp').key]).toBeUndefined();
    expect(await podsOf(k, 'bmp', node())).toHaveLength(0);
  });

  it('migrate survives a crash after any of several steps: rerunning converges', async () => {
    for (const step of ['hold', 'stop-native']) {
      const crashed = await onSwitchAsync(['kubesonic', 'migrate', 'bmp', '--spec', SPEC], { ...env, KUBESONIC_FAULT_AFTER_STEP: step });
      expect(crashed.code, crashed.stdout + crashed.stderr).toBe(70);
    }
    const r = await kubesonic('migrate', 'bmp', '--spec', SPEC, '--timeout', '180');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[2\/8\] hold: already done/);
    expect(r.stdout).toMatch(/\[4\/8\] stop-native: already done/);
  });

  it('after migrate: the pod runs, the native container does not, the unit is the proxy and active', async () => {
    expect(await podRunning()).toBe(true);
    expect(await nativeUp()).toBe(false);
    expect(unitActive()).toBe('active');
    expect(readFileSync(join(root, 'etc/systemd/system/bmp.service.d/90-kubesonic.conf'), 'utf8')).toBe(stubDropIn('bmp'));
    const verify = onSwitch(['systemd-analyze', 'verify', 'bmp.service']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).not.toMatch(/90-kubesonic/);
    copyFileSync(
      join(REPO, 'deploy', 'systemd', 'kubesonic-exporter.service'),
      join(root, 'etc/systemd/system/kubesonic-exporter.service'),
    );
    const exporterUnit = onSwitch(['systemd-analyze', 'verify', 'kubesonic-exporter.service']);
    expect(exporterUnit.code, exporterUnit.stderr).toBe(0);
    const status = await kubesonic('systemd', 'bmp', 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Kubernetes-managed/);
    const checker = JSON.parse(onSwitch(['memory_checker', '--json', 'bmp', '1'], env).stdout) as { via: string; pod: string };
    expect(checker.via).toBe('kube');
    await waitFor('FEATURE mirrors the pod', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 60_000);
    expect(await config.hgetall('FEATURE|bmp')).toEqual(SONIC_BMP_FEATURE);
  });

  it('one node agent serves bmp; the bmp pod carries the feature only; the unit waits in a shell of a few MiB', async () => {
    const agent = await k.apps.readNamespacedDaemonSet({ name: 'kubesonic-agent', namespace: 'sonic' });
    expect(agentFeatures(agent as never)).toEqual(['bmp']);
    const [pod] = await podsOf(k, 'bmp', node());
    expect(pod?.spec?.containers.map((c) => c.name)).toEqual(['bmp']);
    expect(pod?.spec?.automountServiceAccountToken).toBe(false);
    // Issue #9: no init container, no Docker (or any) socket in the pod; the native marker that kept
    // its container waiting during migrate is gone (Docker showed no native bmp at release).
    expect(pod?.spec?.initContainers ?? []).toEqual([]);
    expect(
      (pod?.spec?.volumes ?? []).filter((v) => v.hostPath?.type === 'Socket' || /(docker|containerd)\.sock$/.test(v.hostPath?.path ?? '')),
    ).toEqual([]);
    expect(existsSync(join(root, 'etc/sonic/kubesonic/hold/bmp.native'))).toBe(false);
    await waitFor('unit state file', async () => onSwitch(['cat', '/run/kubesonic/units/bmp']).stdout.startsWith('running'), 30_000);
    const mainPid = systemctl('show', 'bmp.service', '--property=MainPID', '--value').stdout.trim();
    const cmdline = onSwitch(['cat', `/proc/${mainPid}/cmdline`])
      .stdout.split('\0')
      .filter(Boolean);
    expect(cmdline).toEqual(['/bin/sh', '/etc/sonic/kubesonic/unit-wait.sh', 'bmp']);
    const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(onSwitch(['cat', `/proc/${mainPid}/status`]).stdout)?.[1]);
    expect(rssKiB).toBeGreaterThan(0);
    expect(rssKiB).toBeLessThan(5 * 1024);
  });

  it('migrate again: every step already done', async () => {
    const r = await kubesonic('migrate', 'bmp', '--spec', SPEC);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/already done/g)).toHaveLength(8);
    expect(r.stdout).toMatch(/\[3\/8\] opt-in: already done \(label \S+ kubesonic\.sonic-net\.github\.io\/bmp=enabled /);
  });

  it('a hand `systemctl stop bmp`: held on the switch, no daemon, the same pod, status 3 — and nothing written to CONFIG_DB', async () => {
    const writesBefore = configWrites.length;
    const before = await bmpPod();
    const stop = systemctl('stop', 'bmp.service');
    expect(stop.code, stop.stderr).toBe(0);
    expect(onSwitch(['cat', '/etc/sonic/kubesonic/hold/bmp']).code).toBe(0);
    const taints = (await k.core.readNode({ name: node() })).spec?.taints ?? [];
    expect(hasTaint({ spec: { taints } }, stopTaint('bmp'))).toBe(true);
    expect(hasTaint({ spec: { taints } }, disableTaint('bmp'))).toBe(false);
    // The kubelet restarts the container; its command waits in the hold: no daemon, same pod.
    await waitFor('the container restarted, held', async () => (await bmpPod()).restarts === before.restarts + 1, 60_000);
    expect(pidsNamed('openbmpd')).toEqual([]);
    expect((await bmpPod()).uid).toBe(before.uid);
    expect(unitActive()).toBe('inactive');
    expect((await kubesonic('systemd', 'bmp', 'status')).code).toBe(3);
    await waitFor('STATE_DB: stopped', async () => (await state.hget('FEATURE|bmp', 'remote_state')) === 'stopped', 30_000);
    expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ state: 'enabled', container_id: '' });
    expect(await nativeUp()).toBe(false);
    await sleep(5000);
    expect(pidsNamed('openbmpd')).toEqual([]);
    const start = systemctl('start', 'bmp.service');
    expect(start.code, start.stderr).toBe(0);
    await waitFor('bmp running again', podRunning, 30_000);
    expect(pidsNamed('openbmpd')).toHaveLength(1);
    expect((await bmpPod()).uid).toBe(before.uid);
    expect(hasTaint(await k.core.readNode({ name: node() }), stopTaint('bmp'))).toBe(false);
    await waitFor(
      'STATE_DB: running',
      async () =>
        (await state.hget('FEATURE|bmp', 'current_owner')) === 'local' && (await state.hget('FEATURE|bmp', 'container_id')) !== '',
      30_000,
    );
    expect(configWrites.slice(writesBefore)).toEqual([]);
    expect(await config.hgetall('FEATURE|bmp')).toEqual(SONIC_BMP_FEATURE);
  });

  it("an operator's `kubectl taint … bmp=disabled:NoSchedule`: exactly one CONFIG_DB write (state=disabled); untaint: one (enabled)", async () => {
    const writesBefore = configWrites.length;
    await taintDisabled(k, 'bmp', true);
    for (const p of await podsOf(k, 'bmp', node())) await k.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: 'sonic' });
    await waitFor('CONFIG_DB disabled', async () => (await config.hget('FEATURE|bmp', 'state')) === 'disabled', 60_000);
    expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ state: 'disabled', container_id: '' });
    // featured answers with `systemctl stop bmp`: the unit follows, nothing is written back.
    expect(systemctl('stop', 'bmp.service').code).toBe(0);
    expect(unitActive()).toBe('inactive');
    await taintDisabled(k, 'bmp', false);
    await waitFor('CONFIG_DB enabled', async () => (await config.hget('FEATURE|bmp', 'state')) === 'enabled', 60_000);
    // featured answers the enable with `systemctl start bmp`.
    expect(systemctl('start', 'bmp.service').code).toBe(0);
    expect(unitActive()).toBe('active');
    // The start returns once containerd runs the container (the node's own truth); the pod's status
    // in the API follows when the kubelet next reports it (CI saw it a moment later).
    await waitFor('the API shows the bmp container running', podRunning, 15_000, 200);
    expect(configWrites.slice(writesBefore).map((w) => w.join(' '))).toEqual([
      'hset FEATURE|bmp state disabled',
      'hset FEATURE|bmp state enabled',
    ]);
  });

  it('`config feature state bmp disabled` (CONFIG_DB, then featured stops the unit), then enabled: the unit follows, nothing writes back', async () => {
    await config.hset('FEATURE|bmp', 'state', 'disabled');
    const writesBefore = configWrites.length;
    expect(systemctl('stop', 'bmp.service').code).toBe(0);
    await waitFor('no bmp daemon', async () => pidsNamed('openbmpd').length === 0, 30_000);
    await waitFor('STATE_DB: stopped', async () => (await state.hget('FEATURE|bmp', 'remote_state')) === 'stopped', 30_000);
    await config.hset('FEATURE|bmp', 'state', 'enabled');
    expect(systemctl('start', 'bmp.service').code).toBe(0);
    await waitFor('bmp running again', podRunning, 30_000);
    await waitFor('STATE_DB: running', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 30_000);
    // Only the test's own (featured's trigger) writes: one after the stop, none from kubesonic.
    expect(configWrites.slice(writesBefore).map((w) => w.join(' '))).toEqual(['hset FEATURE|bmp state enabled']);
  });

  it("featured's own calls on the migrated unit: stop, disable, mask — then unmask, enable, start; nothing written back", async () => {
    const writesBefore = configWrites.length;
    // featured's disable (its systemctl calls, in its order); a unit without [Install] only warns on disable/enable.
    for (const verb of ['stop', 'disable', 'mask']) expect(systemctl(verb, 'bmp.service').code, verb).toBe(0);
    await waitFor('no bmp daemon', async () => pidsNamed('openbmpd').length === 0, 30_000);
    expect(systemctl('is-enabled', 'bmp.service').stdout.trim()).toBe('masked');
    expect(systemctl('start', 'bmp.service').code).not.toBe(0);
    expect(pidsNamed('openbmpd')).toEqual([]);
    // featured's enable.
    for (const verb of ['unmask', 'enable', 'start']) expect(systemctl(verb, 'bmp.service').code, verb).toBe(0);
    await waitFor('bmp running again', podRunning, 60_000);
    expect(unitActive()).toBe('active');
    expect(configWrites.slice(writesBefore)).toEqual([]);
  });

  it('systemctl restart bmp: the same pod (UID, image), restartCount + 1 — even after the template moved to a new image', async () => {
    // An operator's rollout control (OnDelete) and a new image in the template: a restart must not upgrade.
    mustRun('ctr', [
      '--address',
      '/run/kubesonic-containerd/containerd.sock',
      '-n',
      'k8s.io',
      'images',
      'tag',
      '--force',
      FEATURE_REF,
      NEXT_REF,
    ]);
    await k.apps.patchNamespacedDaemonSet(
      {
        name: 'bmp',
        namespace: 'sonic',
        body: {
          spec: {
            updateStrategy: { type: 'OnDelete', rollingUpdate: null },
            template: { spec: { containers: [{ name: 'bmp', image: NEXT_REF }] } },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await waitFor('bmp running', podRunning, 60_000);
    const before = await bmpPod();
    const r = systemctl('restart', 'bmp.service');
    expect(r.code, r.stderr).toBe(0);
    await waitFor('bmp running again', podRunning, 60_000);
    const after = await bmpPod();
    expect(after.uid).toBe(before.uid);
    expect(after.image).toBe(FEATURE_REF);
    expect(after.restarts).toBe(before.restarts + 1);
    expect(unitActive()).toBe('active');
    // monit's restart action (no --process): in place too.
    const action = await kubesonic('restart', 'bmp');
    expect(action.code, action.stdout + action.stderr).toBe(0);
    await waitFor('bmp running again', podRunning, 60_000);
    const again = await bmpPod();
    expect([again.uid, again.image, again.restarts]).toEqual([before.uid, FEATURE_REF, before.restarts + 2]);
  });

  it('API server away: `systemctl stop bmp` stops the daemon for good, `systemctl start bmp` brings it back; the taint catches up', async () => {
    const before = await bmpPod();
    stopComponent('kube-apiserver');
    try {
      const started = Date.now();
      const stop = systemctl('stop', 'bmp.service');
      expect(stop.code, stop.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      await sleep(10_000);
      expect(pidsNamed('openbmpd')).toEqual([]);
      // The kubelet keeps restarting nothing into a daemon: still none a minute later.
      await sleep(50_000);
      expect(pidsNamed('openbmpd')).toEqual([]);
      expect((await kubesonic('systemd', 'bmp', 'status')).code).toBe(3);
      expect(onSwitch(['ls', '/run/kubesonic/taint-pending']).stdout.trim()).toBe('bmp');
    } finally {
      startComponent('kube-apiserver');
    }
    // Online again: kubesonic-taints.timer (every 30 s) puts the stop taint on.
    await waitFor('stop taint', async () => hasTaint(await k.core.readNode({ name: node() }), stopTaint('bmp')), 90_000);
    stopComponent('kube-apiserver');
    try {
      const start = systemctl('start', 'bmp.service');
      expect(start.code, start.stderr).toBe(0);
      // The stop's crictl stop may have left the container in the kubelet's crash-loop back-off
      // (10 s doubling to 5 min: 1m20s seen in CI); the daemon comes back when the kubelet starts it.
      await waitFor('bmp daemon again', async () => pidsNamed('openbmpd').length === 1, 330_000).catch((e: unknown) => {
        // What was there: the hold and the native marker, the unit state, the unit's own lines.
        const there = [
          onSwitch(['ls', '-la', '/etc/sonic/kubesonic/hold']).stdout,
          onSwitch(['cat', '/run/kubesonic/units/bmp']).stdout,
          onSwitch(['journalctl', '-u', 'bmp.service', '-n', '40', '--no-pager']).stdout,
        ].join('\n');
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n${there}`);
      });
      expect(unitActive()).toBe('active');
    } finally {
      startComponent('kube-apiserver');
    }
    await waitFor('stop taint gone', async () => !hasTaint(await k.core.readNode({ name: node() }), stopTaint('bmp')), 90_000);
    await waitFor('bmp running', podRunning, 60_000);
    expect((await bmpPod()).uid).toBe(before.uid);
    expect(systemctl('show', 'bmp.service', '--property=NRestarts,Result').stdout).toMatch(/Result=success/);
  }, 720_000);

  it("rollback (the switch's identity): this node opted out, its pod gone, unit is SONiC's again and runs the native container", async () => {
    const r = await kubesonic('rollback', 'bmp', '--spec', SPEC, '--timeout', '180');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await k.core.readNode({ name: node() })).metadata?.labels?.[optInLabel('bmp').key]).toBeUndefined();
    expect(await podsOf(k, 'bmp', node())).toHaveLength(0);
    expect(existsSync(join(root, 'etc/systemd/system/bmp.service.d/90-kubesonic.conf'))).toBe(false);
    expect(await nativeUp()).toBe(true);
    expect(unitActive()).toBe('active');
    expect(systemctl('show', 'bmp.service', '--property=ExecStart').stdout).toMatch(/bmp\.sh wait/);
    expect(hasTaint(await k.core.readNode({ name: node() }), disableTaint('bmp'))).toBe(false);
    expect(await config.hgetall('FEATURE|bmp')).toEqual(SONIC_BMP_FEATURE);
    expect((await state.hgetall('FEATURE|bmp')).current_owner).toBeUndefined();
    const again = await kubesonic('rollback', 'bmp', '--spec', SPEC);
    expect(again.stdout.match(/already done/g)?.length).toBe(again.stdout.match(/^\[\d+\/\d+\]/gm)?.length);
  });

  it('the cluster side stays for other switches until a cluster admin removes it; then DaemonSet and agent are gone', async () => {
    expect((await k.apps.readNamespacedDaemonSet({ name: 'bmp', namespace: 'sonic' })).metadata?.name).toBe('bmp');
    // The switch's identity cannot remove it (no DaemonSet access at all).
    const bySwitch = await kubesonic('cluster', 'remove', 'bmp', '--spec', SPEC);
    expect(bySwitch.code).not.toBe(0);
    expect(bySwitch.stderr).toMatch(/^kubesonic: .*(403|forbidden)/im);
    clusterSide('remove', 'bmp', SPEC);
    await expect(k.apps.readNamespacedDaemonSet({ name: 'bmp', namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
    // bmp was the agent's last feature: the agent is gone with it.
    await expect(k.apps.readNamespacedDaemonSet({ name: 'kubesonic-agent', namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
  });

  it('never both: the native container and the pod were not once seen running together', () => {
    expect(violations).toEqual([]);
  });
});

// The seed's bmp walk-through, end to end, on real parts: SONiC's bmp.service under a real systemd
// (own root, own pid/cgroup namespaces) running the native container in a real dockerd; then
// `kubesonic migrate` onto the real cluster, disable/enable through systemctl (taint), restart,
// and `kubesonic rollback`. The native container and the pod are never seen running together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { clusterEnv, kube, kubeconfigFor, podsOf, setFeatureMiB, taintDisabled } from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/docker.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { REPO, testbedBin, waitFor } from '../helpers/procs.js';
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

const kubesonic = (...args: string[]) => onSwitch(['kubesonic', ...args], env);
const node = () => clusterEnv().NODE_NAME;
const podRunning = async () => (await podsOf(k, 'bmp', node())).some((p) => podContainerRunning(p, 'bmp'));
const nativeUp = async () => (await dockerEngine(docker.socket).nativeRunning('bmp', Date.now() + 5000)) !== undefined;
const unitActive = () => systemctl('is-active', 'bmp.service').stdout.trim();

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
  mkdirSync(join(root, 'etc/sonic/kubesonic'), { recursive: true });
  copyFileSync(kubeconfigFor('operator'), join(root, 'etc/sonic/kubesonic/kubeconfig'));
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
  onSwitch(['kubesonic', 'rollback', 'bmp', '--spec', SPEC], env ?? {});
  await taintDisabled(k, 'bmp', false).catch(() => undefined);
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
    const r = kubesonic('migrate', 'bmp', '--spec', SPEC, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^\[\d\/8\] [a-z-]+: would /gm)).toHaveLength(8);
    expect(await nativeUp()).toBe(true);
    await expect(k.apps.readNamespacedDaemonSet({ name: 'bmp', namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
  });

  it('migrate survives a crash after any of several steps: rerunning converges', async () => {
    for (const step of ['hold', 'stop-native']) {
      const crashed = onSwitch(['kubesonic', 'migrate', 'bmp', '--spec', SPEC], { ...env, KUBESONIC_FAULT_AFTER_STEP: step });
      expect(crashed.code, crashed.stdout + crashed.stderr).toBe(70);
    }
    const r = kubesonic('migrate', 'bmp', '--spec', SPEC, '--timeout', '180');
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
    const status = kubesonic('systemd', 'bmp', 'status');
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

  it('migrate again: every step already done', () => {
    const r = kubesonic('migrate', 'bmp', '--spec', SPEC);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/already done/g)).toHaveLength(8);
    expect(r.stdout).toMatch(/\[3\/8\] apply: already done \(server-side apply DaemonSet\/bmp, and the node agent serving bmp\)/);
  });

  it('a hand `systemctl stop bmp`: kubesonic holds the node, pod gone, status 3 — and writes nothing to CONFIG_DB', async () => {
    const writesBefore = configWrites.length;
    const stop = systemctl('stop', 'bmp.service');
    expect(stop.code, stop.stderr).toBe(0);
    const taints = (await k.core.readNode({ name: node() })).spec?.taints ?? [];
    expect(hasTaint({ spec: { taints } }, stopTaint('bmp'))).toBe(true);
    expect(hasTaint({ spec: { taints } }, disableTaint('bmp'))).toBe(false);
    expect(await podsOf(k, 'bmp', node())).toHaveLength(0);
    expect(unitActive()).toBe('inactive');
    expect(kubesonic('systemd', 'bmp', 'status').code).toBe(3);
    await waitFor('STATE_DB: stopped', async () => (await state.hget('FEATURE|bmp', 'remote_state')) === 'stopped', 30_000);
    expect(await state.hgetall('FEATURE|bmp')).toMatchObject({ state: 'enabled', container_id: '', current_owner: 'none' });
    expect(await nativeUp()).toBe(false);
    const start = systemctl('start', 'bmp.service');
    expect(start.code, start.stderr).toBe(0);
    expect(await podRunning()).toBe(true);
    await waitFor('STATE_DB: running', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 30_000);
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
    expect(await podRunning()).toBe(true);
    expect(unitActive()).toBe('active');
    expect(configWrites.slice(writesBefore).map((w) => w.join(' '))).toEqual([
      'hset FEATURE|bmp state disabled',
      'hset FEATURE|bmp state enabled',
    ]);
  });

  it('`config feature state bmp disabled` (CONFIG_DB, then featured stops the unit), then enabled: the unit follows, nothing writes back', async () => {
    await config.hset('FEATURE|bmp', 'state', 'disabled');
    const writesBefore = configWrites.length;
    expect(systemctl('stop', 'bmp.service').code).toBe(0);
    expect(await podsOf(k, 'bmp', node())).toHaveLength(0);
    await waitFor('STATE_DB: stopped', async () => (await state.hget('FEATURE|bmp', 'remote_state')) === 'stopped', 30_000);
    await config.hset('FEATURE|bmp', 'state', 'enabled');
    expect(systemctl('start', 'bmp.service').code).toBe(0);
    expect(await podRunning()).toBe(true);
    await waitFor('STATE_DB: running', async () => (await state.hget('FEATURE|bmp', 'current_owner')) === 'local', 30_000);
    // Only the test's own (featured's trigger) writes: one after the stop, none from kubesonic.
    expect(configWrites.slice(writesBefore).map((w) => w.join(' '))).toEqual(['hset FEATURE|bmp state enabled']);
  });

  it('systemctl restart bmp: a new pod', async () => {
    const before = (await podsOf(k, 'bmp', node()))[0]!.metadata!.name;
    const r = systemctl('restart', 'bmp.service');
    expect(r.code, r.stderr).toBe(0);
    const after = (await podsOf(k, 'bmp', node())).find((p) => podContainerRunning(p, 'bmp'));
    expect(after?.metadata?.name).toBeDefined();
    expect(after!.metadata!.name).not.toBe(before);
    expect(unitActive()).toBe('active');
  });

  it("rollback: pod and DaemonSet gone, unit is SONiC's again and runs the native container", async () => {
    const r = kubesonic('rollback', 'bmp', '--spec', SPEC, '--timeout', '180');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expect(k.apps.readNamespacedDaemonSet({ name: 'bmp', namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
    // bmp was the agent's last feature: the agent is gone with it.
    await expect(k.apps.readNamespacedDaemonSet({ name: 'kubesonic-agent', namespace: 'sonic' })).rejects.toMatchObject({ code: 404 });
    expect(await podsOf(k, 'bmp', node())).toHaveLength(0);
    expect(existsSync(join(root, 'etc/systemd/system/bmp.service.d/90-kubesonic.conf'))).toBe(false);
    expect(await nativeUp()).toBe(true);
    expect(unitActive()).toBe('active');
    expect(systemctl('show', 'bmp.service', '--property=ExecStart').stdout).toMatch(/bmp\.sh wait/);
    expect(hasTaint(await k.core.readNode({ name: node() }), disableTaint('bmp'))).toBe(false);
    expect(await config.hgetall('FEATURE|bmp')).toEqual(SONIC_BMP_FEATURE);
    expect((await state.hgetall('FEATURE|bmp')).current_owner).toBeUndefined();
    const again = kubesonic('rollback', 'bmp', '--spec', SPEC);
    expect(again.stdout.match(/already done/g)?.length).toBe(again.stdout.match(/^\[\d+\/\d+\]/gm)?.length);
  });

  it('never both: the native container and the pod were not once seen running together', () => {
    expect(violations).toEqual([]);
  });
});

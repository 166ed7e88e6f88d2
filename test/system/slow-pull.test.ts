// A five-minute image pull under a migrated unit, on real parts (issue 8): bmp migrated on the test
// switch (real systemd, dockerd, kubelet, containerd); then the cluster side moves bmp to an image
// served by a registry that drips its layer out over five minutes (test/helpers/slow-registry.ts),
// so the DaemonSet replaces the pod and the kubelet pulls for five minutes. Meanwhile the unit stays
// active (waiting is not a failure: no start-limit-hit, no restart), the local fallback does not
// start (a pod that is pulling is `pending`, not away, although the spec's fallback delay is 20 s),
// a `systemctl restart bmp` in the middle returns, and the two never run together; at the end the
// pod runs the new image and the unit is still active.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { clusterEnv, clusterSide, removeClusterSide, installSwitchKubeconfig, kube, podsOf, setFeatureMiB } from '../helpers/cluster.js';
import { startDockerd, type Dockerd } from '../helpers/docker.js';
import { startRedis, SONIC_BMP_FEATURE, REDIS_SOCKET, type TestRedis } from '../helpers/redis.js';
import { onSwitch, onSwitchAsync, systemctl, systemdDown, systemdRoot, systemdUp } from '../helpers/systemd.js';
import { REPO, TEST_ROOT, testbedBin, waitFor } from '../helpers/procs.js';
import { startSlowRegistry, type SlowRegistry } from '../helpers/slow-registry.js';
import { sleep } from '../../src/util/wait.js';
import { podContainerRunning } from '../../src/kube/cluster.js';
import { dockerEngine } from '../../src/host/docker.js';

const PULL_S = 300;
const k = kube();
const SPEC = join(REPO, 'testbed', 'features', 'bmp-e2e.yaml');
const SLOW_SPEC = join(TEST_ROOT, 'bmp-slow.yaml');
let docker: Dockerd;
let redis: TestRedis;
let config: Redis;
let registry: SlowRegistry;
let env: Record<string, string>;

const node = () => clusterEnv().NODE_NAME;
const nativeUp = async () =>
  (await dockerEngine(docker.socket)
    .nativeRunning('bmp', Date.now() + 5000)
    .catch(() => undefined)) !== undefined;
const runningPods = async () => (await podsOf(k, 'bmp', node())).filter((p) => podContainerRunning(p, 'bmp'));
const unitProps = () =>
  Object.fromEntries(
    systemctl('show', 'bmp.service', '--property=ActiveState,Result,NRestarts')
      .stdout.trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );

beforeAll(async () => {
  docker = await startDockerd(testbedBin());
  redis = await startRedis();
  config = redis.db(4);
  await config.flushall();
  await config.hset('FEATURE|bmp', SONIC_BMP_FEATURE);
  systemdUp();
  await installSwitchKubeconfig(systemdRoot());
  clusterSide('apply', 'bmp', SPEC);
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
  await waitFor('bmp pod running', async () => (await runningPods()).length === 1, 120_000);
  registry = await startSlowRegistry({
    archive: '/var/lib/kubesonic-test/k8s/images/feature.tar',
    repo: 'kubesonic/feature-slow',
    tag: '1',
    layerSeconds: PULL_S,
  });
  // The same feature, its image now behind the slow registry (what an image upgrade looks like).
  const spec = readFileSync(SPEC, 'utf8');
  writeFileSync(
    SLOW_SPEC,
    spec.replace(/^image: .*$/m, `image: ${registry.image}`).replace(/^imagePullPolicy: Never$/m, 'imagePullPolicy: IfNotPresent'),
  );
}, 400_000);

afterAll(async () => {
  await registry?.close();
  const rolledBack = await onSwitchAsync(['kubesonic', 'rollback', 'bmp', '--spec', SPEC, '--timeout', '180'], env ?? {});
  if (rolledBack.code !== 0)
    process.stderr.write(`[slow-pull] rollback exited ${rolledBack.code}:\n${rolledBack.stdout}${rolledBack.stderr}\n`);
  removeClusterSide('bmp', SPEC);
  try {
    systemdDown();
  } finally {
    await docker?.stop();
    await redis?.stop();
  }
}, 300_000);

describe('a five-minute image pull under a migrated unit', () => {
  it(
    'the unit stays active and never falls back while the pod pulls; a restart meanwhile returns; the new image runs at the end',
    async () => {
      const before = unitProps();
      expect(before).toMatchObject({ ActiveState: 'active', Result: 'success' });
      const started = Date.now();
      clusterSide('apply', 'bmp', SLOW_SPEC);
      await waitFor('the pull begun', async () => registry.layerPulls.started > 0, 120_000);
      const samples: { at: number; unit: string; native: boolean; running: number }[] = [];
      let restarted: ReturnType<typeof systemctl> | undefined;
      while (registry.layerPulls.finished === 0 && Date.now() - started < (PULL_S + 120) * 1000) {
        samples.push({
          at: (Date.now() - started) / 1000,
          unit: unitProps().ActiveState ?? '',
          native: await nativeUp(),
          running: (await runningPods()).length,
        });
        // A restart a minute into the pull (what `config reload` or an operator does): it must return.
        if (!restarted && Date.now() - started > 60_000) restarted = systemctl('restart', 'bmp.service');
        await sleep(5000);
      }
      const pulledS = (Date.now() - started) / 1000;
      const [pod] = await waitFor(
        'the new image running',
        async () => {
          const p = (await runningPods()).filter((x) => x.spec?.containers.find((c) => c.name === 'bmp')?.image === registry.image);
          return p.length ? p : undefined;
        },
        120_000,
      );
      process.stderr.write(`[slow-pull] layer pulled in ${pulledS.toFixed(0)} s; ${samples.length} samples; pod ${pod?.metadata?.name}\n`);
      expect(registry.layerPulls.finished).toBeGreaterThanOrEqual(1);
      expect(pulledS).toBeGreaterThanOrEqual(PULL_S - 10);
      expect(restarted?.code, restarted?.stderr).toBe(0);
      // Throughout: the unit active, no native container (the spec's 20 s fallback did not fire on
      // a pod that was pulling), never more than one running pod.
      expect(samples.filter((s) => s.unit !== 'active')).toEqual([]);
      expect(samples.filter((s) => s.native)).toEqual([]);
      expect(samples.filter((s) => s.running > 1)).toEqual([]);
      const after = unitProps();
      expect(after).toMatchObject({ ActiveState: 'active', Result: 'success', NRestarts: before.NRestarts });
      const journal = onSwitch(['journalctl', '-u', 'bmp.service', '--no-pager', '-o', 'cat']).stdout;
      expect(journal).not.toMatch(/falling back|start-limit-hit/);
    },
    (PULL_S + 300) * 1000,
  );
});

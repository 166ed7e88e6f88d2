// memory_checker and the seed's resource limits and disable flow on the real cluster: kubelet +
// containerd + runc, metrics-server behind the aggregation layer, DaemonSet controller, scheduler.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import {
  clusterEnv,
  kube,
  kubeconfigFor,
  podsOf,
  applyFeature,
  removeFeature,
  setFeatureMiB,
  startComponent,
  stopComponent,
  taintDisabled,
  testbedSpec,
  waitFeatureRunning,
} from '../helpers/cluster.js';
import { sleep, waitUntil } from '../../src/util/wait.js';
import { podContainerRunning } from '../../src/kube/cluster.js';
import { KUBESONIC, REPO, run, runChecker, testbedBin } from '../helpers/procs.js';

const MiB = 1024 * 1024;
const spec = testbedSpec('bmp');
const k = kube();
let pod: V1Pod;

interface CheckerJson {
  status: string;
  usage: number;
  source: string;
  via: string;
  pod: string;
  cgroup?: string;
  exitCode: number;
  notes: string[];
  apiRequests: number;
}

function checker(args: string[], user: 'checker' | 'kubelet' = 'checker'): { json: CheckerJson; code: number; ms: number } {
  const env = clusterEnv();
  const r = runChecker(['--json', ...args], { ...env, KUBECONFIG: kubeconfigFor(user), DOCKER_HOST: 'unix:///nonexistent.sock' });
  return { json: JSON.parse(r.stdout) as CheckerJson, code: r.code, ms: r.ms };
}

beforeAll(async () => {
  setFeatureMiB('bmp', 64);
  await applyFeature(k, spec);
  pod = await waitFeatureRunning(k, spec);
});

afterAll(async () => {
  await taintDisabled(k, 'bmp', false);
  await removeFeature(k, spec);
});

describe('bmp DaemonSet on a real kubelet', () => {
  it('runs with the seed requests/limits, and the kubelet enforces the limit in the cgroup', () => {
    const c = pod.spec!.containers.find((x) => x.name === 'bmp')!;
    expect(c.resources).toEqual({ requests: { memory: '100Mi', cpu: '100m' }, limits: { memory: '800Mi', cpu: '500m' } });
    expect(pod.status?.qosClass).toBe('Burstable');
    const { json } = checker(['bmp', '1', '--source', 'cgroup']);
    expect(Number(readFileSync(`${json.cgroup}/memory.limit_in_bytes`, 'utf8'))).toBe(800 * MiB);
  });

  it('metrics.k8s.io and the pod cgroup give the same working set (within 10%)', async () => {
    const fromMetrics = await waitUntil(
      'metrics for bmp',
      90_000,
      async () => {
        const r = checker(['bmp', '1', '--source', 'kube']);
        return r.code === 3 && r.json.usage > 60 * MiB ? r.json : undefined;
      },
      2000,
    );
    const fromCgroup = checker(['bmp', '1', '--source', 'cgroup']).json;
    expect(fromMetrics).toMatchObject({ source: 'metrics.k8s.io', pod: pod.metadata!.name });
    expect(fromCgroup).toMatchObject({ source: 'cgroup', via: 'kube', pod: pod.metadata!.name });
    expect(Math.abs(fromMetrics.usage - fromCgroup.usage) / fromCgroup.usage).toBeLessThan(0.1);
  });

  it("with containerd's task state readable the metrics path is one API request (the pod list only when it is not)", () => {
    const { json } = checker(['bmp', '1']);
    expect(json).toMatchObject({ source: 'metrics.k8s.io', via: 'kube', pod: pod.metadata!.name, apiRequests: 1 });
    const withoutState = runChecker(['--json', 'bmp', '1'], {
      ...clusterEnv(),
      KUBESONIC_CONTAINERD_STATE: '/nonexistent',
      KUBECONFIG: kubeconfigFor('checker'),
      DOCKER_HOST: 'unix:///nonexistent.sock',
    });
    expect(JSON.parse(withoutState.stdout)).toMatchObject({ source: 'metrics.k8s.io', pod: pod.metadata!.name, apiRequests: 2 });
  });

  it("as the .deb installs it (the launcher, dist/memory_checker.cjs): a run resumes the last run's TLS session with the real API server", () => {
    const sessions = mkdtempSync('/var/lib/kubesonic-test/checker-sessions-');
    const launcher = (n: number) => {
      const r = run(process.execPath, [join(REPO, 'dist', 'memory_checker.cjs'), '--json', 'bmp', '1'], {
        PATH: process.env.PATH,
        ...clusterEnv(),
        KUBECONFIG: kubeconfigFor('checker'),
        DOCKER_HOST: 'unix:///nonexistent.sock',
        KUBESONIC_TLS_SESSION_DIR: join(sessions, 'kept'),
      });
      expect({ n, code: r.code, stderr: r.stderr }).toEqual({ n, code: 3, stderr: '' });
      return JSON.parse(r.stdout) as CheckerJson & { tlsResumed: number };
    };
    expect(launcher(1)).toMatchObject({ source: 'metrics.k8s.io', pod: pod.metadata!.name, apiRequests: 1, tlsResumed: 0 });
    expect(launcher(2)).toMatchObject({ source: 'metrics.k8s.io', pod: pod.metadata!.name, apiRequests: 1, tlsResumed: 1 });
    const kept = readdirSync(join(sessions, 'kept'));
    expect(kept).toHaveLength(1);
    expect(statSync(join(sessions, 'kept', kept[0]!)).mode & 0o777).toBe(0o600);
    rmSync(sessions, { recursive: true, force: true });
  });

  it("the kubelet's own identity cannot read metrics: the checker says so and answers from the cgroup", () => {
    const r = checker(['bmp', '1'], 'kubelet');
    // metrics (403) first, then the pod list for the container id: no third request for the same 403.
    expect(r.json).toMatchObject({ source: 'cgroup', via: 'kube', apiRequests: 2 });
    expect(r.json.notes.join(' ')).toMatch(/403/);
  });

  it('exits 3 once the feature allocates past the threshold, 0 below', async () => {
    setFeatureMiB('bmp', 300);
    await waitUntil('exit 3 above 256 MiB', 90_000, async () => (checker(['bmp', String(256 * MiB)]).code === 3 ? true : undefined), 1000);
    expect(checker(['bmp', String(700 * MiB)]).code).toBe(0);
    setFeatureMiB('bmp', 64);
  });

  it('with metrics-server stopped the checker answers from the cgroup within its timeout', async () => {
    stopComponent('metrics-server');
    try {
      const r = checker(['bmp', '1', '--timeout', '1500']);
      expect(r.json).toMatchObject({ status: 'measured', source: 'cgroup', via: 'kube' });
      expect(r.ms).toBeLessThan(3000);
    } finally {
      startComponent('metrics-server');
    }
  });

  it('with the apiserver stopped the checker finds the container in containerd state and reads its cgroup', async () => {
    stopComponent('kube-apiserver');
    try {
      const r = checker(['bmp', '1', '--timeout', '1500']);
      expect(r.json).toMatchObject({ status: 'measured', source: 'cgroup', via: 'containerd', pod: pod.metadata!.name });
      expect(r.json.usage).toBeGreaterThan(30 * MiB);
      expect(r.ms).toBeLessThan(3000);
    } finally {
      startComponent('kube-apiserver');
    }
  });

  it('past 800Mi the container is OOM-killed and restarted', async () => {
    setFeatureMiB('bmp', 900);
    const killed = await waitUntil(
      'OOMKilled',
      120_000,
      async () => {
        const [p] = await podsOf(k, 'bmp', clusterEnv().NODE_NAME);
        const cs = p?.status?.containerStatuses?.find((c) => c.name === 'bmp');
        return cs && cs.restartCount > 0 && cs.lastState?.terminated?.reason === 'OOMKilled' ? cs : undefined;
      },
      1000,
    );
    setFeatureMiB('bmp', 64);
    expect(killed.lastState?.terminated?.exitCode).toBe(137);
    await waitFeatureRunning(k, spec);
  });

  it("monit's action, kubesonic restart bmp, restarts the Kubernetes-run container in place (same pod, restartCount + 1)", async () => {
    const pod = (await podsOf(k, 'bmp', clusterEnv().NODE_NAME))[0]!;
    const restarts = pod.status!.containerStatuses!.find((c) => c.name === 'bmp')!.restartCount;
    const r = run(process.execPath, [KUBESONIC, 'restart', 'bmp', '--timeout', '90'], {
      ...process.env,
      ...clusterEnv(),
      KUBESONIC_CRICTL: join(testbedBin(), 'crictl'),
      CONTAINER_RUNTIME_ENDPOINT: 'unix:///run/kubesonic-containerd/containerd.sock',
      DOCKER_HOST: 'unix:///nonexistent.sock',
    });
    expect(r.code, r.stderr).toBe(0);
    const after = await waitUntil('bmp restarted in place', 90_000, async () => {
      const p = (await podsOf(k, 'bmp', clusterEnv().NODE_NAME)).find((q) => podContainerRunning(q, 'bmp'));
      return p && p.status!.containerStatuses!.find((c) => c.name === 'bmp')!.restartCount > restarts ? p : undefined;
    });
    expect(after.metadata!.uid).toBe(pod.metadata!.uid);
  });

  it('taint bmp=disabled:NoSchedule + delete pod → no new pod; untaint → pod back', async () => {
    const node = clusterEnv().NODE_NAME;
    const before = (await podsOf(k, 'bmp', node))[0]!;
    await taintDisabled(k, 'bmp', true);
    await k.core.deleteNamespacedPod({ name: before.metadata!.name!, namespace: 'sonic' });
    await waitUntil('pod gone', 60_000, async () => ((await podsOf(k, 'bmp', node)).length === 0 ? true : undefined));
    await sleep(8000); // several DaemonSet controller syncs: nothing comes back while tainted
    expect(await podsOf(k, 'bmp', node)).toHaveLength(0);
    expect(checker(['bmp', '1']).json.status).toBe('not-running');
    await taintDisabled(k, 'bmp', false);
    const back = await waitFeatureRunning(k, spec);
    expect(back.metadata!.name).not.toBe(before.metadata!.name);
  });
});

// What `systemctl start|stop|restart|status <feature>` means once Kubernetes runs the feature.
//   start   remove the <f>=disabled:NoSchedule taint; wait until the pod on this node runs
//   stop    taint and delete the pod; wait until it is gone (skipped while the system shuts down:
//           a reboot must not disable the feature)
//   restart delete the pod; wait for its replacement to run
//   status  0 running, 3 not running, 4 unknown (LSB/systemd conventions)
//   wait    ExecStart: block while the pod exists; exit 0 once it is gone on purpose (tainted),
//           1 if it stays gone without a taint (the DaemonSet is not bringing it back)
import type { V1Pod } from '@kubernetes/client-node';
import { deleteFeaturePodsAndWait, disableTaint, featurePods, hasTaint, podContainerRunning, setTaint, waitUntil, type Kube } from '../kube/client.js';
import { FeatureView } from '../feature/view.js';

export interface StubTarget {
  feature: string;
  namespace: string;
  node: string;
}

export const STATUS = { RUNNING: 0, NOT_RUNNING: 3, UNKNOWN: 4 } as const;

function podLine(p: V1Pod, feature: string): string {
  const cs = p.status?.containerStatuses?.find((c) => c.name === feature);
  const state = cs?.state?.running ? 'running' : cs?.state?.waiting ? `waiting (${cs.state.waiting.reason ?? ''})` : cs?.state?.terminated ? `terminated (${cs.state.terminated.reason ?? ''})` : (p.status?.phase ?? 'unknown');
  return `${p.metadata?.name} ${state}${cs?.containerID ? ` ${cs.containerID.replace(/^[a-z0-9-]+:\/\//, '').slice(0, 12)}` : ''} restarts=${cs?.restartCount ?? 0}${p.metadata?.deletionTimestamp ? ' terminating' : ''}`;
}

export async function runningPod(k: Kube, t: StubTarget): Promise<V1Pod | undefined> {
  return (await featurePods(k, t.namespace, t.feature, t.node)).find((p) => podContainerRunning(p, t.feature));
}

export async function start(k: Kube, t: StubTarget, timeoutMs: number, out: (s: string) => void): Promise<number> {
  if (await setTaint(k, t.node, disableTaint(t.feature), false)) out(`${t.feature}: removed taint ${t.feature}=disabled:NoSchedule from ${t.node}`);
  const pod = await waitUntil(`${t.feature} pod running on ${t.node}`, timeoutMs, () => runningPod(k, t), 1000);
  out(`${t.feature}: ${podLine(pod, t.feature)}`);
  return 0;
}

export async function stop(k: Kube, t: StubTarget, timeoutMs: number, out: (s: string) => void, systemStopping: boolean): Promise<number> {
  if (systemStopping) {
    out(`${t.feature}: system is shutting down, leaving the pod to the node's reboot`);
    return 0;
  }
  if (await setTaint(k, t.node, disableTaint(t.feature), true)) out(`${t.feature}: tainted ${t.node} with ${t.feature}=disabled:NoSchedule`);
  await deleteFeaturePodsAndWait(k, t.namespace, t.feature, t.node, timeoutMs, out);
  return 0;
}

export async function restart(k: Kube, t: StubTarget, timeoutMs: number, out: (s: string) => void): Promise<number> {
  const old = await featurePods(k, t.namespace, t.feature, t.node);
  for (const p of old) {
    await k.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: t.namespace });
    out(`${t.feature}: deleted pod ${p.metadata!.name}`);
  }
  const oldNames = new Set(old.map((p) => p.metadata!.name));
  const pod = await waitUntil(`a new ${t.feature} pod running on ${t.node}`, timeoutMs, async () => {
    const p = await runningPod(k, t);
    return p && !oldNames.has(p.metadata!.name) ? p : undefined;
  }, 1000);
  out(`${t.feature}: ${podLine(pod, t.feature)}`);
  return 0;
}

export async function status(k: Kube, t: StubTarget, out: (s: string) => void): Promise<number> {
  let pods: V1Pod[];
  try {
    pods = await featurePods(k, t.namespace, t.feature, t.node);
  } catch (e) {
    out(`${t.feature}: status unknown: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    return STATUS.UNKNOWN;
  }
  const node = await k.core.readNode({ name: t.node }).catch(() => undefined);
  const disabled = node ? hasTaint(node, disableTaint(t.feature)) : false;
  out(`${t.feature}: Kubernetes-managed (namespace ${t.namespace}, node ${t.node})${disabled ? `, disabled by taint ${t.feature}=disabled:NoSchedule` : ''}`);
  for (const p of pods) out(`  pod ${podLine(p, t.feature)}`);
  if (pods.length === 0) out('  no pod on this node');
  return pods.some((p) => podContainerRunning(p, t.feature)) ? STATUS.RUNNING : STATUS.NOT_RUNNING;
}

/**
 * ExecStart of the unit: block for as long as the feature has a pod on this node (watched, not
 * polled). Returns 0 once the pod is gone and the node carries the disable taint, 1 if the pod stays
 * gone without it for `goneGraceMs` (the DaemonSet is not bringing it back), 0 when aborted (SIGTERM
 * from systemctl stop). While the apiserver is away the view is stale and nothing is decided.
 */
export function waitWhileRunning(k: Kube, t: StubTarget, out: (s: string) => void, opts: { goneGraceMs?: number; signal?: AbortSignal } = {}): Promise<number> {
  const grace = opts.goneGraceMs ?? 120_000;
  return new Promise((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (code: number, line?: string) => {
      if (line) out(line);
      clearTimeout(graceTimer);
      view.stop();
      resolve(code);
    };
    const view = new FeatureView(k, t, (o) => {
      if (o.podPresent) {
        clearTimeout(graceTimer);
        graceTimer = undefined;
      } else if (o.disabledByTaint) {
        finish(0, `${t.feature}: pod gone and ${t.feature} disabled on ${t.node}`);
      } else {
        graceTimer ??= setTimeout(() => finish(1, `${t.feature}: no pod on ${t.node} for ${Math.round(grace / 1000)} s and no disable taint`), grace);
      }
    });
    opts.signal?.addEventListener('abort', () => finish(0), { once: true });
    void view.start();
  });
}

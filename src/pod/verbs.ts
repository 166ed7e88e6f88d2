// What `systemctl start|stop|restart|status <feature>` means once Kubernetes runs the feature.
//   start   remove the feature's taints (kubesonic's stop, an operator's <f>=disabled:NoSchedule);
//           wait until the pod on this node runs
//   stop    hold the node with kubesonic's stop taint (never an operator's disable: it does not
//           reach CONFIG_DB) and delete the pod; wait until it is gone (skipped while the system
//           shuts down: a reboot keeps the pod for the node's return)
//   restart delete the pod; wait for its replacement to run
//   status  0 running, 3 not running, 4 unknown (LSB/systemd conventions)
//   wait    ExecStart: block while the pod exists; exit 0 once it is gone on purpose (tainted),
//           1 if it stays gone without a taint (the DaemonSet is not bringing it back)
import type { V1Pod } from '@kubernetes/client-node';
import {
  deleteFeaturePods,
  deleteFeaturePodsAndWait,
  disableTaint,
  featurePods,
  hasTaint,
  podContainerRunning,
  runningPod,
  setTaint,
  stopTaint,
  type Cluster,
  type FeatureTarget,
} from '../kube/cluster.js';
import { shortContainerId, VERSION_ANNOTATION } from '../kube/ids.js';
import type { Docker } from '../host/docker.js';
import { FeatureView } from '../feature/view.js';
import { readUnitState, writeUnitState, type UnitState } from '../feature/unit-state.js';
import { errorLine } from '../util/errors.js';
import { waitUntil } from '../util/wait.js';

export const STATUS = { RUNNING: 0, NOT_RUNNING: 3, UNKNOWN: 4 } as const;

export interface VerbOptions {
  timeoutMs: number;
  out: (line: string) => void;
  /** How often waits re-list (tests use a short one). */
  pollMs?: number;
  /**
   * Where the unit state files are (feature/unit-state.ts): start and stop write what they saw, so
   * the unit's ExecStart never acts on a state older than its own start. undefined: none.
   */
  unitStateDir?: string | undefined;
  /** The host's Docker (start on the host): v2's clean-up of the native container happens here. */
  docker?: Docker | undefined;
}

function noteUnitState(o: VerbOptions, feature: string, state: UnitState): void {
  if (!o.unitStateDir) return;
  // A disable already noted (by the agent, perhaps the operator's) keeps its reason.
  if (state === 'disabled' && readUnitState(o.unitStateDir, feature)?.state === 'disabled') return;
  writeUnitState(o.unitStateDir, feature, state, new Date(), state === 'disabled' ? 'unit' : undefined);
}

function containerState(p: V1Pod, feature: string): string {
  const state = p.status?.containerStatuses?.find((c) => c.name === feature)?.state;
  if (state?.running) return 'running';
  if (state?.waiting) return `waiting (${state.waiting.reason ?? ''})`;
  if (state?.terminated) return `terminated (${state.terminated.reason ?? ''})`;
  return p.status?.phase ?? 'unknown';
}

/** One line per pod, as `systemctl status` users expect: name, state, container id, restarts. */
export function podLine(p: V1Pod, feature: string): string {
  const cs = p.status?.containerStatuses?.find((c) => c.name === feature);
  const id = shortContainerId(cs?.containerID);
  const terminating = p.metadata?.deletionTimestamp ? ' terminating' : '';
  return `${p.metadata?.name} ${containerState(p, feature)}${id ? ` ${id}` : ''} restarts=${cs?.restartCount ?? 0}${terminating}`;
}

export async function start(cluster: Cluster, t: FeatureTarget, o: VerbOptions): Promise<number> {
  if (await setTaint(cluster, t.node, stopTaint(t.feature), false)) o.out(`${t.feature}: released the hold on ${t.node}`);
  if (await setTaint(cluster, t.node, disableTaint(t.feature), false))
    o.out(`${t.feature}: removed taint ${t.feature}=disabled:NoSchedule from ${t.node}`);
  const pod = await waitUntil(`${t.feature} pod running on ${t.node}`, o.timeoutMs, () => runningPod(cluster, t), o.pollMs ?? 1000);
  noteUnitState(o, t.feature, 'running');
  o.out(`${t.feature}: ${podLine(pod, t.feature)}`);
  // v2: no native container left behind. The host side does the Docker work: no pod mounts the socket.
  if (o.docker && pod.metadata?.annotations?.[VERSION_ANNOTATION] === 'v2') {
    try {
      if (await o.docker.removeNative(t.feature, Date.now() + 10_000)) o.out(`${t.feature}: v2: removed the native container ${t.feature}`);
    } catch (e) {
      o.out(`${t.feature}: v2 clean-up skipped: ${errorLine(e)}`);
    }
  }
  return 0;
}

export async function stop(cluster: Cluster, t: FeatureTarget, o: VerbOptions, systemStopping: boolean): Promise<number> {
  if (systemStopping) {
    o.out(`${t.feature}: system is shutting down, leaving the pod to the node's reboot`);
    return 0;
  }
  if (await setTaint(cluster, t.node, stopTaint(t.feature), true))
    o.out(`${t.feature}: holding ${t.node} (taint ${stopTaint(t.feature).key})`);
  await deleteFeaturePodsAndWait(cluster, t, o.timeoutMs, o.out, o.pollMs ?? 1000);
  noteUnitState(o, t.feature, 'disabled');
  return 0;
}

export async function restart(cluster: Cluster, t: FeatureTarget, o: VerbOptions): Promise<number> {
  const old = new Set(await deleteFeaturePods(cluster, t, o.out));
  const pod = await waitUntil(
    `a new ${t.feature} pod running on ${t.node}`,
    o.timeoutMs,
    async () => {
      const p = await runningPod(cluster, t);
      return p && !old.has(p.metadata!.name!) ? p : undefined;
    },
    o.pollMs ?? 1000,
  );
  noteUnitState(o, t.feature, 'running');
  o.out(`${t.feature}: ${podLine(pod, t.feature)}`);
  return 0;
}

export async function status(cluster: Cluster, t: FeatureTarget, out: (line: string) => void): Promise<number> {
  let pods: V1Pod[];
  try {
    pods = await featurePods(cluster, t);
  } catch (e) {
    out(`${t.feature}: status unknown: ${errorLine(e)}`);
    return STATUS.UNKNOWN;
  }
  const node = await cluster.readNode(t.node).catch(() => undefined);
  const disabled = node && hasTaint(node, disableTaint(t.feature)) ? `, disabled by taint ${t.feature}=disabled:NoSchedule` : '';
  const stopped = node && hasTaint(node, stopTaint(t.feature)) ? ', stopped by its unit' : '';
  out(`${t.feature}: Kubernetes-managed (namespace ${t.namespace}, node ${t.node})${disabled}${stopped}`);
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
export function waitWhileRunning(
  cluster: Cluster,
  t: FeatureTarget,
  out: (line: string) => void,
  opts: { goneGraceMs?: number; signal?: AbortSignal } = {},
): Promise<number> {
  const grace = opts.goneGraceMs ?? 120_000;
  return new Promise((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (code: number, line?: string) => {
      if (done) return;
      done = true;
      if (line) out(line);
      clearTimeout(graceTimer);
      view.stop();
      resolve(code);
    };
    const view = new FeatureView(cluster, t, (o) => {
      if (o.podPresent) {
        clearTimeout(graceTimer);
        graceTimer = undefined;
      } else if (o.disabledByTaint || o.stoppedByUnit) {
        finish(0, `${t.feature}: pod gone and ${t.feature} disabled on ${t.node}`);
      } else {
        graceTimer ??= setTimeout(
          () => finish(1, `${t.feature}: no pod on ${t.node} for ${Math.round(grace / 1000)} s and no disable taint`),
          grace,
        );
      }
    });
    if (opts.signal?.aborted) finish(0);
    opts.signal?.addEventListener('abort', () => finish(0), { once: true });
    void view.start();
  });
}

// What `systemctl start|stop|restart|status <feature>` means once Kubernetes runs the feature.
// The work is done on the switch, so every verb works with the API server away:
//   stop    put the host-side hold on (host/hold.ts) and stop the feature container through the
//           container runtime (CRI); the kubelet restarts it, and its command waits while the hold
//           is on — no daemon runs, the pod stays. Also at shutdown (the hold is persistent): after
//           the reboot the feature stays stopped until its unit starts it, as a native one does.
//   start   take the hold off; wait (bounded) for the feature container to run. Never a failure from
//           waiting on the cluster: a slow pod is waited for by the unit's ExecStart.
//   restart stop the feature container through the runtime and wait for its next attempt to run:
//           same pod (UID, image, spec), restartCount + 1 — never a new pod from a newer template.
//   status  0 running, 3 not running, 4 unknown (LSB/systemd conventions)
//   wait    (legacy ExecStart) block while the pod exists
// The node's taints are the cluster's view of the same thing: kubesonic's stop taint follows the
// hold, `start` lifts an operator's disable. They are written when the API server answers within a
// few seconds, else noted in TAINT_PENDING_DIR for the taint sync (`kubesonic systemd <f> taint`).
import type { V1Pod } from '@kubernetes/client-node';
import {
  deleteFeaturePodsAndWait,
  disableTaint,
  featurePods,
  hasTaint,
  podContainerRunning,
  setTaint,
  stopTaint,
  type Cluster,
  type FeatureTarget,
} from '../kube/cluster.js';
import { featureContainerName, shortContainerId, VERSION_ANNOTATION } from '../kube/ids.js';
import { DockerAbsent, type Docker } from '../host/docker.js';
import { isHeld, isNativeMarked, setHold } from '../host/hold.js';
import { RuntimeUnavailable, runningContainer, type ContainerRuntime, type CriContainer } from '../host/cri.js';
import { FeatureView } from '../feature/view.js';
import { readUnitState, writeUnitState, type UnitState } from '../feature/unit-state.js';
import { errorLine } from '../util/errors.js';
import { monotonicMs, sleep } from '../util/wait.js';
import { setTaintPending } from './taint-pending.js';

export const STATUS = { RUNNING: 0, NOT_RUNNING: 3, UNKNOWN: 4 } as const;

export interface VerbPorts {
  /** The API server; undefined when this switch has no credentials (the verbs still work on the host). */
  cluster: Cluster | undefined;
  runtime: ContainerRuntime;
}

export interface VerbOptions {
  timeoutMs: number;
  out: (line: string) => void;
  /** Where the host-side holds are (sonic/paths.ts HOLD_DIR). */
  holdDir: string;
  /** Where taints that could not follow yet are noted (sonic/paths.ts TAINT_PENDING_DIR); undefined: nowhere. */
  taintPendingDir?: string | undefined;
  /** How often waits look again (tests use a short one). */
  pollMs?: number;
  /** Bound on the API calls of start/stop: the hold does the work, the taint only reports it. */
  apiTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace when the runtime stops the feature container. */
  graceSeconds?: number;
  /**
   * Where the unit state files are (feature/unit-state.ts): start and stop write what they did, so
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

/** The runtime's view of a container, in podLine's words. */
export const containerLine = (c: CriContainer): string =>
  `${c.podName} ${c.running ? 'running' : 'exited'} ${c.id.slice(0, 12)} restarts=${c.attempt}`;

function withTimeout<T>(ms: number, what: string, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([run(), late]).finally(() => clearTimeout(timer));
}

/**
 * The node's taints follow the host: with the hold on, kubesonic's stop taint; with it off, neither
 * that nor an operator's disable (`systemctl start` is featured's enable). If the API server does not
 * answer, the feature is noted for the taint sync and the verb goes on: the hold already did the work.
 */
export async function followTaints(ports: VerbPorts, t: FeatureTarget, o: VerbOptions): Promise<boolean> {
  const held = isHeld(o.holdDir, t.feature);
  const pending = (on: boolean) => {
    if (o.taintPendingDir) setTaintPending(o.taintPendingDir, t.feature, on);
  };
  if (!ports.cluster) {
    pending(true);
    o.out(`${t.feature}: no cluster credentials: the node's taint follows later`);
    return false;
  }
  const cluster = ports.cluster;
  try {
    await withTimeout(o.apiTimeoutMs ?? 5000, 'API server', async () => {
      if (held) {
        if (await setTaint(cluster, t.node, stopTaint(t.feature), true))
          o.out(`${t.feature}: tainted ${t.node} (${stopTaint(t.feature).key}: stopped by its unit)`);
        return;
      }
      if (await setTaint(cluster, t.node, stopTaint(t.feature), false)) o.out(`${t.feature}: released the hold on ${t.node}`);
      if (await setTaint(cluster, t.node, disableTaint(t.feature), false))
        o.out(`${t.feature}: removed taint ${t.feature}=disabled:NoSchedule from ${t.node}`);
    });
    pending(false);
    return true;
  } catch (e) {
    pending(true);
    o.out(`${t.feature}: the node's taint follows when the API server is back (${errorLine(e)})`);
    return false;
  }
}

/** The feature containers the runtime knows on this node, running or not; RuntimeUnavailable when it cannot be asked. */
async function runtimeContainers(ports: VerbPorts, t: FeatureTarget): Promise<CriContainer[]> {
  return ports.runtime.containers(t.namespace, featureContainerName(t.feature));
}

/** Stop every running feature container; the ids stopped. */
async function stopContainers(ports: VerbPorts, t: FeatureTarget, o: VerbOptions): Promise<string[]> {
  const running = (await runtimeContainers(ports, t)).filter((c) => c.running);
  for (const c of running) {
    await ports.runtime.stop(c.id, o.graceSeconds ?? 10);
    o.out(`${t.feature}: stopped container ${c.id.slice(0, 12)} of pod ${c.podName} (attempt ${c.attempt})`);
  }
  return running.map((c) => c.id);
}

/** Wait until a feature container other than `old` runs; undefined at the time limit. */
async function waitRunning(
  ports: VerbPorts,
  t: FeatureTarget,
  o: VerbOptions,
  old: ReadonlySet<string>,
): Promise<CriContainer | undefined> {
  const until = monotonicMs() + o.timeoutMs;
  for (;;) {
    const c = await runningContainer(ports.runtime, t.namespace, featureContainerName(t.feature)).catch((e: unknown) => {
      if (e instanceof RuntimeUnavailable) throw e;
      return undefined;
    });
    if (c && !old.has(c.id)) return c;
    if (monotonicMs() > until) return undefined;
    await sleep(o.pollMs ?? 1000);
  }
}

export async function start(ports: VerbPorts, t: FeatureTarget, o: VerbOptions): Promise<number> {
  if (setHold(o.holdDir, t.feature, false)) o.out(`${t.feature}: hold taken off on this switch`);
  undoOwnStop(o, t.feature);
  const apiAnswered = await followTaints(ports, t, o);
  if (!apiAnswered && !(await runtimeContainers(ports, t).catch(() => [])).some((c) => c.running)) {
    // After a reboot with the API server away the kubelet has no pod to start: nothing comes, so
    // nothing is waited for here. The unit's ExecStart waits, and falls back to the native container.
    o.out(`${t.feature}: the API server is away and no ${t.feature} container runs on this node: the unit waits for one`);
    return 0;
  }
  const c = await waitRunning(ports, t, o, new Set());
  if (!c) {
    // Not a failure: a slow image pull, a pod not there yet (API server away after a reboot). The
    // unit stays active and its ExecStart waits; a failure here would end in start-limit-hit.
    o.out(`${t.feature}: no ${t.feature} container running yet after ${Math.round(o.timeoutMs / 1000)} s: the unit waits for it`);
    return 0;
  }
  // A container running under the native marker is only its wrapper waiting: pending, not running.
  const marked = isNativeMarked(o.holdDir, t.feature);
  noteUnitState(o, t.feature, marked ? 'pending' : 'running');
  o.out(
    `${t.feature}: ${containerLine(c)}${marked ? ` (waits: a native ${t.feature} container may run; the unit clears ${o.holdDir}/${t.feature}.native once Docker shows none)` : ''}`,
  );
  await v2CleanUp(ports, t, o);
  return 0;
}

/**
 * Starting undoes the unit's own stop: the "disabled" it noted (reason unit) becomes pending — the pod
 * owns the feature again, and what runs is noted once its container does. Left in place, the unit's
 * ExecStart would read it and end at once, and its ExecStop would hold the feature again: seen on the
 * real kubelet when the stop's CRI stop had left the container in the kubelet's crash-loop back-off
 * (10 s doubling to 5 min) and the API server was away, so no one else corrected it. Any other state
 * stays: after a reboot there is none (tmpfs), and the unit may fall back.
 */
function undoOwnStop(o: VerbOptions, feature: string): void {
  if (!o.unitStateDir) return;
  const noted = readUnitState(o.unitStateDir, feature);
  if (noted?.state === 'disabled' && noted.reason === 'unit') noteUnitState(o, feature, 'pending');
}

/** v2: no native container left behind. The host side does the Docker work: no pod mounts the socket. */
async function v2CleanUp(ports: VerbPorts, t: FeatureTarget, o: VerbOptions): Promise<void> {
  if (!o.docker || !ports.cluster) return;
  try {
    const pods = await withTimeout(o.apiTimeoutMs ?? 5000, 'API server', () => featurePods(ports.cluster!, t));
    if (!pods.some((p) => p.metadata?.annotations?.[VERSION_ANNOTATION] === 'v2')) return;
    if (await o.docker.removeNative(t.feature, Date.now() + 10_000)) o.out(`${t.feature}: v2: removed the native container ${t.feature}`);
  } catch (e) {
    o.out(`${t.feature}: v2 clean-up skipped: ${errorLine(e)}`);
  }
}

export async function stop(ports: VerbPorts, t: FeatureTarget, o: VerbOptions, systemStopping: boolean): Promise<number> {
  if (setHold(o.holdDir, t.feature, true))
    o.out(`${t.feature}: held on this switch (its container waits until systemctl start ${t.feature})`);
  if (systemStopping) {
    o.out(`${t.feature}: system is shutting down: the pod stays for the node's return, held until the unit starts`);
    return 0;
  }
  await stopNative(t, o);
  try {
    await stopContainers(ports, t, o);
  } catch (e) {
    if (!(e instanceof RuntimeUnavailable) || !ports.cluster) throw e;
    // No runtime to ask (crictl missing): the pod goes instead, as before the hold existed.
    o.out(`${t.feature}: ${errorLine(e)}: deleting the pod instead`);
    await followTaints(ports, t, o);
    await deleteFeaturePodsAndWait(ports.cluster, t, o.timeoutMs, o.out, o.pollMs ?? 1000);
    noteUnitState(o, t.feature, 'disabled');
    return 0;
  }
  noteUnitState(o, t.feature, 'disabled');
  await followTaints(ports, t, o);
  return 0;
}

/**
 * A native container of the feature is stopped too (the unit's local fallback, or one started behind
 * its back): while migrated, `systemctl stop` leaves nothing of the feature running. Docker not
 * answering is said, not taken for "none".
 */
async function stopNative(t: FeatureTarget, o: VerbOptions): Promise<void> {
  if (!o.docker) return;
  try {
    const native = await o.docker.nativeRunning(t.feature, Date.now() + 10_000);
    if (!native) return;
    await o.docker.stop(native.id, o.graceSeconds ?? 10, Date.now() + 30_000);
    o.out(`${t.feature}: stopped the native container ${native.id.slice(0, 12)} (local fallback)`);
  } catch (e) {
    // No Docker on this switch at all: nothing native can run.
    if (e instanceof DockerAbsent) return;
    o.out(`${t.feature}: could not ask Docker about a native ${t.feature}: ${errorLine(e)}`);
  }
}

/** Restart in place: the kubelet's next attempt of the same container in the same pod. */
export async function restart(ports: VerbPorts, t: FeatureTarget, o: VerbOptions): Promise<number> {
  const old = new Set(await stopContainers(ports, t, o));
  if (old.size === 0) o.out(`${t.feature}: no ${t.feature} container was running`);
  const c = await waitRunning(ports, t, o, old);
  if (!c) throw new Error(`${t.feature}: no new ${t.feature} container running after ${Math.round(o.timeoutMs / 1000)} s`);
  const marked = isNativeMarked(o.holdDir, t.feature);
  noteUnitState(o, t.feature, marked ? 'pending' : 'running');
  o.out(
    `${t.feature}: ${containerLine(c)}${isHeld(o.holdDir, t.feature) ? ' (held: waits for systemctl start)' : marked ? ' (waits: a native container may run)' : ''}`,
  );
  return 0;
}

export async function status(
  ports: VerbPorts,
  t: FeatureTarget,
  o: Pick<VerbOptions, 'holdDir' | 'out' | 'unitStateDir' | 'docker'>,
): Promise<number> {
  if (o.unitStateDir && readUnitState(o.unitStateDir, t.feature)?.state === 'local') {
    // The unit's local fallback (systemd/unit.ts): the image's own container, until Kubernetes is back.
    const native = await o.docker?.nativeRunning(t.feature, Date.now() + 5000).catch(() => undefined);
    o.out(
      `${t.feature}: Kubernetes-managed, running natively (local fallback: no pod from Kubernetes)${native ? `, container ${native.id.slice(0, 12)}` : ', native container not running'}`,
    );
    return native ? STATUS.RUNNING : STATUS.NOT_RUNNING;
  }
  const held = isHeld(o.holdDir, t.feature);
  // The native marker: the container runs only its wrapper, waiting; the feature does not run.
  const marked = isNativeMarked(o.holdDir, t.feature);
  const holdNote =
    (held ? `, stopped by its unit (hold ${o.holdDir}/${t.feature})` : '') +
    (marked ? `, waiting: a native ${t.feature} container may run (native marker ${o.holdDir}/${t.feature}.native)` : '');
  const waits = held || marked;
  let pods: V1Pod[] | undefined;
  let apiError: unknown;
  if (ports.cluster) {
    try {
      pods = await withTimeout(5000, 'API server', () => featurePods(ports.cluster!, t));
    } catch (e) {
      apiError = e;
    }
  }
  if (pods) {
    const node = await ports.cluster!.readNode(t.node).catch(() => undefined);
    const disabled = node && hasTaint(node, disableTaint(t.feature)) ? `, disabled by taint ${t.feature}=disabled:NoSchedule` : '';
    o.out(`${t.feature}: Kubernetes-managed (namespace ${t.namespace}, node ${t.node})${disabled}${holdNote}`);
    for (const p of pods) o.out(`  pod ${podLine(p, t.feature)}`);
    if (pods.length === 0) o.out('  no pod on this node');
    return !waits && pods.some((p) => podContainerRunning(p, t.feature)) ? STATUS.RUNNING : STATUS.NOT_RUNNING;
  }
  // The API server is away (or there are no credentials): the runtime on the switch still knows.
  let containers: CriContainer[];
  try {
    containers = await runtimeContainers(ports, t);
  } catch (e) {
    o.out(`${t.feature}: status unknown: ${errorLine(apiError ?? e)}; container runtime: ${errorLine(e)}`);
    return STATUS.UNKNOWN;
  }
  const why = apiError ? `API server away: ${errorLine(apiError)}` : 'no cluster credentials';
  o.out(`${t.feature}: Kubernetes-managed (namespace ${t.namespace}, node ${t.node}; ${why}; from the container runtime)${holdNote}`);
  for (const c of containers.slice(0, 3)) o.out(`  container ${containerLine(c)}`);
  if (containers.length === 0) o.out('  no container on this node');
  return !waits && containers.some((c) => c.running) ? STATUS.RUNNING : STATUS.NOT_RUNNING;
}

/**
 * (Legacy ExecStart, before the shell loop.) Block for as long as the feature has a pod on this
 * node (watched, not polled). Returns 0 once the pod is gone and the node carries a taint of the
 * feature, 1 if the pod stays gone without it for `goneGraceMs`, 0 when aborted (SIGTERM from
 * systemctl stop). While the apiserver is away the view is stale and nothing is decided.
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

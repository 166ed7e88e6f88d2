// The API calls kubesonic's flows make, as one port (the `Cluster`), and the feature-level verbs
// built on it: pods of a feature on a node, the disable taint, objects present. The real Cluster is
// client-node (kube/client.ts); test/fakes/cluster.ts is an in-memory one for table tests.
import type { KubernetesObject, V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import { waitUntil } from '../util/wait.js';
import { featureSelector } from './ids.js';

export interface PodList {
  items: V1Pod[];
  resourceVersion: string | undefined;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | string;

/** A running watch; stop() ends it without calling its onDone. */
export interface WatchHandle {
  stop(): void;
}

/**
 * Every watch asks the API server to end it after this long (timeoutSeconds); the view then resumes
 * it from its last resourceVersion (feature/view.ts), and takes a watch still open well after this
 * for a dead connection.
 */
export const WATCH_SECONDS = 300;

/** A lost optimistic-concurrency race (HTTP 409, or 422 from a failed JSON-patch test). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** What watching a node's feature pods needs: the read-only half (the agent has nothing else). */
export interface ClusterReader {
  readNode(name: string): Promise<V1Node>;
  /** Pods in `namespace` bound to `node` that match `labelSelector`. */
  listNodePods(namespace: string, node: string, labelSelector: string): Promise<PodList>;
  watchNodePods(
    namespace: string,
    node: string,
    labelSelector: string,
    resourceVersion: string | undefined,
    onEvent: (type: WatchEventType, pod: V1Pod) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
  watchNode(node: string, onEvent: (type: WatchEventType, node: V1Node) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
}

export interface Cluster extends ClusterReader {
  /**
   * Replace the node's taints, guarded by the resourceVersion read with them (a concurrent change
   * to other taints is never overwritten). Throws ConflictError when the node changed meanwhile.
   */
  replaceNodeTaints(node: V1Node, taints: V1Taint[]): Promise<void>;
  /** Set (value) or remove (null) one label of the node (a merge patch: no other label is touched). */
  setNodeLabel(node: string, key: string, value: string | null): Promise<void>;
  /** Names of the nodes matching an equality label selector ("k=v"). */
  listNodeNames(labelSelector: string): Promise<string[]>;
  /** false: the pod was already gone. */
  deletePod(namespace: string, name: string): Promise<boolean>;
  exists(obj: KubernetesObject): Promise<boolean>;
  /** The object as stored, or undefined when there is none. */
  get(obj: KubernetesObject): Promise<KubernetesObject | undefined>;
  /** Server-side apply (field manager "kubesonic"); dryRun: validated and defaulted, nothing stored. */
  apply(objs: readonly KubernetesObject[], dryRun?: boolean): Promise<KubernetesObject[]>;
  /** Delete in reverse order; one already gone is fine. */
  delete(objs: readonly KubernetesObject[]): Promise<void>;
}

/** Where a feature runs: its pods in `namespace` on `node`. */
export interface FeatureTarget {
  feature: string;
  namespace: string;
  node: string;
}

/**
 * The operator's disable (the seed's taint): <feature>=disabled:NoSchedule keeps the DaemonSet pod
 * off the node, and is mirrored into CONFIG_DB as the operator's intent.
 */
export function disableTaint(feature: string): V1Taint {
  return { key: feature, value: 'disabled', effect: 'NoSchedule' };
}

/**
 * kubesonic's own hold: the unit's stop (a restart, `config reload`, a hand `systemctl stop`) and
 * migrate/rollback keep the pod off the node with it. It is never an operator's intent, so it never
 * reaches CONFIG_DB (featured would answer a transient "disabled" by stopping, disabling and masking).
 */
export function stopTaint(feature: string): V1Taint {
  return { key: `kubesonic.sonic-net.github.io/stopped-${feature}`, value: 'unit', effect: 'NoSchedule' };
}

/** Either taint: the feature is kept off the node on purpose. */
export const heldOff = (node: V1Node, feature: string): boolean =>
  hasTaint(node, disableTaint(feature)) || hasTaint(node, stopTaint(feature));

export function hasTaint(node: V1Node, taint: V1Taint): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === taint.key && t.effect === taint.effect && (t.value ?? '') === (taint.value ?? ''));
}

export function podContainerRunning(pod: V1Pod, container: string): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  const cs = pod.status?.containerStatuses?.find((c) => c.name === container);
  return Boolean(cs?.state?.running) && cs?.ready !== false;
}

export async function featurePods(cluster: ClusterReader, t: FeatureTarget): Promise<V1Pod[]> {
  return (await cluster.listNodePods(t.namespace, t.node, featureSelector(t.feature))).items;
}

export async function runningPod(cluster: ClusterReader, t: FeatureTarget): Promise<V1Pod | undefined> {
  return (await featurePods(cluster, t)).find((p) => podContainerRunning(p, t.feature));
}

/** The node carries kubesonic's hold (stopTaint). */
export async function featureHeld(cluster: ClusterReader, t: FeatureTarget): Promise<boolean> {
  return hasTaint(await cluster.readNode(t.node), stopTaint(t.feature));
}

/** The node carries either taint of the feature. */
export async function featureHeldOff(cluster: ClusterReader, t: FeatureTarget): Promise<boolean> {
  return heldOff(await cluster.readNode(t.node), t.feature);
}

/** Add or remove one taint; true if the node changed. Retried on a lost race. */
export async function setTaint(cluster: Cluster, nodeName: string, taint: V1Taint, present: boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const node = await cluster.readNode(nodeName);
    const taints = node.spec?.taints ?? [];
    const others = taints.filter((t) => !(t.key === taint.key && t.effect === taint.effect));
    const has = taints.length !== others.length;
    if (has === present && (!present || hasTaint(node, taint))) return false;
    const next = present ? [...others, { key: taint.key, value: taint.value, effect: taint.effect }] : others;
    try {
      await cluster.replaceNodeTaints(node, next);
      return true;
    } catch (e) {
      if (e instanceof ConflictError) continue;
      throw e;
    }
  }
  throw new Error(`could not update taints of node ${nodeName}: conflicting updates`);
}

/** Whether every object exists. */
export async function objectsPresent(cluster: Cluster, objs: readonly KubernetesObject[]): Promise<boolean> {
  for (const o of objs) if (!(await cluster.exists(o))) return false;
  return true;
}

/** Whether none of the objects exists. */
export async function objectsAbsent(cluster: Cluster, objs: readonly KubernetesObject[]): Promise<boolean> {
  for (const o of objs) if (await cluster.exists(o)) return false;
  return true;
}

/** Delete this node's pods of the feature (one already gone is fine); returns their names. */
export async function deleteFeaturePods(
  cluster: Cluster,
  t: FeatureTarget,
  out: (line: string) => void = () => undefined,
): Promise<string[]> {
  const deleted: string[] = [];
  for (const p of await featurePods(cluster, t)) {
    const name = p.metadata!.name!;
    await cluster.deletePod(t.namespace, name);
    deleted.push(name);
    out(`${t.feature}: deleted pod ${name}`);
  }
  return deleted;
}

/**
 * Delete this node's pods of the feature (one already gone is fine) and wait until none is left:
 * what the unit's stop, restart and rollback need before anything may run again.
 */
export async function deleteFeaturePodsAndWait(
  cluster: Cluster,
  t: FeatureTarget,
  timeoutMs: number,
  out: (line: string) => void = () => undefined,
  pollMs = 1000,
): Promise<string[]> {
  const deleted = await deleteFeaturePods(cluster, t, out);
  await waitUntil(
    `${t.feature} pods gone from ${t.node}`,
    timeoutMs,
    async () => ((await featurePods(cluster, t)).length === 0 ? true : undefined),
    pollMs,
  );
  return deleted;
}

/** The node carries the label `key=value`. */
export const hasLabel = (node: V1Node, label: { key: string; value: string }): boolean =>
  node.metadata?.labels?.[label.key] === label.value;

/** Set or remove one node label; true if the node changed. */
export async function setLabel(
  cluster: Cluster,
  nodeName: string,
  label: { key: string; value: string },
  present: boolean,
): Promise<boolean> {
  const node = await cluster.readNode(nodeName);
  const has = node.metadata?.labels?.[label.key];
  if (present ? has === label.value : has === undefined) return false;
  await cluster.setNodeLabel(nodeName, label.key, present ? label.value : null);
  return true;
}

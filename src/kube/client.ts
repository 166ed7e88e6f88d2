// Kubernetes access for the kubesonic CLI, the sidecar and the exporter (not memory_checker's hot
// path, which has its own lean GET client): built on @kubernetes/client-node.
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubernetesObject,
  type V1Node,
  type V1Pod,
  type V1Taint,
} from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { existsSync } from 'node:fs';
import { IN_CLUSTER_DIR, SWITCH_KUBECONFIGS } from './kubeconfig.js';

export const FIELD_MANAGER = 'kubesonic';

export function loadKubeConfig(explicit?: string, env: Readonly<Record<string, string | undefined>> = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (explicit) {
    kc.loadFromFile(explicit);
    return kc;
  }
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${IN_CLUSTER_DIR}/token`)) {
    kc.loadFromCluster();
    return kc;
  }
  const file = (env.KUBECONFIG ?? '').split(':').find((p) => p && existsSync(p)) ?? SWITCH_KUBECONFIGS.find((p) => existsSync(p));
  if (!file) throw new Error('no Kubernetes credentials: set --kubeconfig or KUBECONFIG');
  kc.loadFromFile(file);
  return kc;
}

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  objects: KubernetesObjectApi;
}

export function kubeClients(kc: KubeConfig): Kube {
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), objects: KubernetesObjectApi.makeApiClient(kc) };
}

export function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && (e as { code: unknown }).code === 404;
}

/** The pods of a feature on one node: label app=<feature>, bound to the node. */
export async function featurePods(k: Kube, namespace: string, feature: string, node: string): Promise<V1Pod[]> {
  const list = await k.core.listNamespacedPod({ namespace, labelSelector: `app=${feature}`, fieldSelector: `spec.nodeName=${node}` });
  return list.items;
}

export function podContainerRunning(pod: V1Pod, container: string): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  const cs = pod.status?.containerStatuses?.find((c) => c.name === container);
  return Boolean(cs?.state?.running) && cs?.ready !== false;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * Delete this node's pods of the feature (one already gone is fine) and wait until none is left:
 * what the unit's stop and rollback both need before anything native may run again.
 */
export async function deleteFeaturePodsAndWait(k: Kube, namespace: string, feature: string, node: string, timeoutMs: number, out: (line: string) => void = () => undefined): Promise<void> {
  for (const p of await featurePods(k, namespace, feature, node)) {
    try {
      await k.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    out(`${feature}: deleted pod ${p.metadata!.name}`);
  }
  await waitUntil(`${feature} pods gone from ${node}`, timeoutMs, async () => ((await featurePods(k, namespace, feature, node)).length === 0 ? true : undefined), 1000);
}

/** Taint semantics of the seed: <feature>=disabled:NoSchedule keeps the DaemonSet pod off the node. */
export function disableTaint(feature: string): V1Taint {
  return { key: feature, value: 'disabled', effect: 'NoSchedule' };
}

export function hasTaint(node: V1Node, taint: V1Taint): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === taint.key && t.effect === taint.effect && (t.value ?? '') === (taint.value ?? ''));
}

/**
 * Add or remove one taint with a JSON patch guarded by the resourceVersion test, so a concurrent
 * change to other taints is never overwritten (retried on conflict).
 */
export async function setTaint(k: Kube, nodeName: string, taint: V1Taint, present: boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const node = await k.core.readNode({ name: nodeName });
    const taints = node.spec?.taints ?? [];
    const others = taints.filter((t) => !(t.key === taint.key && t.effect === taint.effect));
    const has = taints.length !== others.length;
    if (has === present && (!present || hasTaint(node, taint))) return false;
    const next = present ? [...others, { key: taint.key, value: taint.value, effect: taint.effect }] : others;
    try {
      await k.core.patchNode(
        {
          name: nodeName,
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: node.metadata?.resourceVersion },
            { op: node.spec?.taints ? 'replace' : 'add', path: '/spec/taints', value: next },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      return true;
    } catch (e) {
      if (typeof e === 'object' && e !== null && 'code' in e && ((e as { code: number }).code === 409 || (e as { code: number }).code === 422)) continue;
      throw e;
    }
  }
  throw new Error(`could not update taints of node ${nodeName}: conflicting updates`);
}

export function parseManifests(text: string): KubernetesObject[] {
  return (loadAll(text) as unknown[]).filter((d): d is KubernetesObject => typeof d === 'object' && d !== null && 'kind' in d);
}

/** Server-side apply, optionally as a dry run (the apiserver validates and defaults, stores nothing). */
export async function applyObjects(k: Kube, objs: readonly KubernetesObject[], dryRun = false): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  for (const obj of objs) {
    out.push(await k.objects.patch(obj, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
  }
  return out;
}

export async function deleteObjects(k: Kube, objs: readonly KubernetesObject[]): Promise<void> {
  for (const obj of [...objs].reverse()) {
    try {
      await k.objects.delete(obj);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

export type PodEvent = { type: string; pod: V1Pod };

/** Watch the feature's pods on this node; resolves the AbortController that stops it. */
export async function watchFeaturePods(
  k: Kube,
  namespace: string,
  feature: string,
  node: string,
  onEvent: (e: PodEvent) => void,
  onDone: (err: unknown) => void,
  resourceVersion?: string,
): Promise<AbortController> {
  const w = new Watch(k.kc);
  return w.watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: `app=${feature}`, fieldSelector: `spec.nodeName=${node}`, allowWatchBookmarks: true, ...(resourceVersion ? { resourceVersion } : {}) },
    (type, obj) => onEvent({ type, pod: obj as V1Pod }),
    onDone,
  );
}

export async function watchNode(k: Kube, node: string, onEvent: (type: string, n: V1Node) => void, onDone: (err: unknown) => void): Promise<AbortController> {
  const w = new Watch(k.kc);
  return w.watch('/api/v1/nodes', { fieldSelector: `metadata.name=${node}` }, (type, obj) => onEvent(type, obj as V1Node), onDone);
}

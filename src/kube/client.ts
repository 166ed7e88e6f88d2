// The real Cluster: @kubernetes/client-node, for the kubesonic CLI, the sidecar and the exporter's
// sync health (memory_checker's hot path has its own lean GET client, kube/http.ts).
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
} from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { existsSync } from 'node:fs';
import { IN_CLUSTER_DIR, SWITCH_KUBECONFIGS } from '../sonic/paths.js';
import type { ApiSources } from '../settings.js';
import { ConflictError, type Cluster, WATCH_SECONDS, type WatchHandle } from './cluster.js';
import { nodeFieldSelector } from './ids.js';
import { assertPrivate } from './kubeconfig.js';

export const FIELD_MANAGER = 'kubesonic';

/**
 * --kubeconfig, else in-cluster, else $KUBECONFIG, else the switch's kubeconfigs (sonic/paths.ts,
 * never SONiC's admin kubeconfig). The first file that exists is the credential; it and its client
 * key must be private (assertPrivate: exit 78 otherwise), and a refused one is never passed over
 * for the next.
 */
export function loadKubeConfig(explicit: string | undefined, api: ApiSources): KubeConfig {
  const kc = new KubeConfig();
  if (explicit && !existsSync(explicit)) throw new Error(`kubeconfig ${explicit} does not exist`);
  if (!explicit && api.inCluster && existsSync(`${IN_CLUSTER_DIR}/token`)) {
    kc.loadFromCluster();
    return kc;
  }
  const file = explicit || (api.kubeconfigs.find((p) => existsSync(p)) ?? SWITCH_KUBECONFIGS.find((p) => existsSync(p)));
  if (!file) throw new Error('no Kubernetes credentials: set --kubeconfig or KUBECONFIG');
  assertPrivate(file);
  kc.loadFromFile(file);
  const keyFile = kc.getCurrentUser()?.keyFile;
  if (keyFile) assertPrivate(keyFile);
  return kc;
}

/** The raw client-node APIs (tests use them to set the scene). */
export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  objects: KubernetesObjectApi;
}

export function kubeClients(kc: KubeConfig): Kube {
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), objects: KubernetesObjectApi.makeApiClient(kc) };
}

const statusCode = (e: unknown): number | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'number'
    ? (e as { code: number }).code
    : undefined;

export const isNotFound = (e: unknown): boolean => statusCode(e) === 404;

export function parseManifests(text: string): KubernetesObject[] {
  return (loadAll(text) as unknown[]).filter((d): d is KubernetesObject => typeof d === 'object' && d !== null && 'kind' in d);
}

async function startWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
): Promise<WatchHandle> {
  const abort = await new Watch(kc).watch(path, query, onEvent, onDone);
  return { stop: () => abort.abort() };
}

/** The Cluster port over client-node. */
export function clientNodeCluster(k: Kube): Cluster {
  return {
    readNode: (name) => k.core.readNode({ name }),
    async replaceNodeTaints(node, taints) {
      try {
        await k.core.patchNode(
          {
            name: node.metadata!.name!,
            body: [
              { op: 'test', path: '/metadata/resourceVersion', value: node.metadata?.resourceVersion },
              { op: node.spec?.taints ? 'replace' : 'add', path: '/spec/taints', value: taints },
            ],
          },
          setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
        );
      } catch (e) {
        const code = statusCode(e);
        if (code === 409 || code === 422) throw new ConflictError(`node ${node.metadata?.name} changed meanwhile`);
        throw e;
      }
    },
    async listNodePods(namespace, node, labelSelector) {
      const list = await k.core.listNamespacedPod({ namespace, labelSelector, fieldSelector: nodeFieldSelector(node) });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion };
    },
    async setNodeLabel(node, key, value) {
      await k.core.patchNode(
        { name: node, body: { metadata: { labels: { [key]: value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    async listNodeNames(labelSelector) {
      const list = await k.core.listNode({ labelSelector });
      return list.items.map((n) => n.metadata?.name ?? '').filter(Boolean);
    },
    async deletePod(namespace, name) {
      try {
        await k.core.deleteNamespacedPod({ name, namespace });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async get(o) {
      try {
        return await k.objects.read({
          apiVersion: o.apiVersion!,
          kind: o.kind!,
          metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace },
        });
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    async exists(o) {
      try {
        await k.objects.read({
          apiVersion: o.apiVersion!,
          kind: o.kind!,
          metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace },
        });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async apply(objs, dryRun = false) {
      const out: KubernetesObject[] = [];
      for (const obj of objs)
        out.push(await k.objects.patch(obj, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
      return out;
    },
    async delete(objs) {
      for (const obj of [...objs].reverse()) {
        try {
          await k.objects.delete(obj);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    },
    watchNodePods: (namespace, node, labelSelector, resourceVersion, onEvent, onDone) =>
      startWatch(
        k.kc,
        `/api/v1/namespaces/${namespace}/pods`,
        {
          labelSelector,
          fieldSelector: nodeFieldSelector(node),
          allowWatchBookmarks: true,
          timeoutSeconds: WATCH_SECONDS,
          ...(resourceVersion ? { resourceVersion } : {}),
        },
        (type, obj) => onEvent(type, obj as V1Pod),
        onDone,
      ),
    watchNode: (node, onEvent, onDone) =>
      startWatch(
        k.kc,
        '/api/v1/nodes',
        // Bookmarks carry the newest resourceVersion the view resumes from (feature/view.ts).
        { fieldSelector: `metadata.name=${node}`, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
        (type, obj) => onEvent(type, obj as V1Node),
        onDone,
      ),
  };
}

/** Credentials → the real Cluster, in one call for the entry points. */
export function connectCluster(explicit: string | undefined, api: ApiSources): Cluster {
  return clientNodeCluster(kubeClients(loadKubeConfig(explicit, api)));
}

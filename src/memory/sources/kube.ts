// The feature's pod on this node and its container's working set from metrics.k8s.io
// (the number `kubectl top pod --containers` shows).
import { parseBytes } from '../../kube/quantity.js';
import { ApiError, getJson } from '../../kube/http.js';
import type { ApiCredentials } from '../../kube/kubeconfig.js';
import { isObj, type Obj } from '../../util/json.js';

export interface FeaturePod {
  name: string;
  uid: string;
  qosClass: string | undefined;
  phase: string;
  /** Runtime id without the "containerd://" scheme; undefined until the container has started. */
  containerId: string | undefined;
  running: boolean;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function malformed(message: string): ApiError {
  return new ApiError({ kind: 'malformed', message });
}

/** Pods of a PodList that run a container named exactly `container` (never a prefix match). */
export function featurePodsFromList(list: unknown, container: string): FeaturePod[] {
  if (!isObj(list) || !Array.isArray(list.items)) throw malformed('pod list has no items');
  const pods: FeaturePod[] = [];
  for (const item of list.items) {
    if (!isObj(item) || !isObj(item.metadata) || !isObj(item.spec)) throw malformed('pod without metadata/spec');
    const specContainers = Array.isArray(item.spec.containers) ? item.spec.containers : [];
    if (!specContainers.some((c) => isObj(c) && c.name === container)) continue;
    if (item.metadata.deletionTimestamp) continue;
    const status = isObj(item.status) ? item.status : {};
    const statuses = Array.isArray(status.containerStatuses) ? status.containerStatuses : [];
    const cs = statuses.find((c): c is Obj => isObj(c) && c.name === container);
    const rawId = cs ? str(cs.containerID) : undefined;
    pods.push({
      name: str(item.metadata.name) ?? '',
      uid: str(item.metadata.uid) ?? '',
      qosClass: str(status.qosClass),
      phase: str(status.phase) ?? 'Unknown',
      containerId: rawId ? rawId.replace(/^[a-z0-9-]+:\/\//, '') : undefined,
      running: cs !== undefined && isObj(cs.state) && isObj(cs.state.running),
    });
  }
  return pods;
}

/** Working set of one container from a PodMetrics object. */
export function containerWorkingSet(metrics: unknown, container: string): number | undefined {
  if (!isObj(metrics) || !Array.isArray(metrics.containers)) throw malformed('PodMetrics has no containers');
  const entry = metrics.containers.find((c): c is Obj => isObj(c) && c.name === container);
  if (!entry) return undefined;
  const raw = isObj(entry.usage) ? str(entry.usage.memory) : undefined;
  const bytes = raw === undefined ? undefined : parseBytes(raw);
  if (bytes === undefined) throw malformed(`memory usage ${JSON.stringify(raw)} is not a quantity`);
  return bytes;
}

export async function listFeaturePods(
  creds: ApiCredentials,
  namespace: string,
  node: string,
  container: string,
  deadline: number,
): Promise<FeaturePod[]> {
  const selector = encodeURIComponent(`spec.nodeName=${node}`);
  const list = await getJson(creds, `/api/v1/namespaces/${namespace}/pods?fieldSelector=${selector}`, deadline);
  return featurePodsFromList(list, container);
}

export async function podWorkingSet(
  creds: ApiCredentials,
  namespace: string,
  pod: string,
  container: string,
  deadline: number,
): Promise<number | undefined> {
  const body = await getJson(creds, `/apis/metrics.k8s.io/v1beta1/namespaces/${namespace}/pods/${encodeURIComponent(pod)}`, deadline);
  return containerWorkingSet(body, container);
}

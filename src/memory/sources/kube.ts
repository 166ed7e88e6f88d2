// Source 1, Kubernetes: the feature's pod on this node, and its container's working set from
// metrics.k8s.io (the number `kubectl top pod --containers` shows); when the metrics API fails, the
// same container's cgroup, found from the pod status.
//
// One request when it can: containerd's task state on this node names the pod (exactly one live
// task of the feature's container in the namespace), so the check asks metrics.k8s.io for that pod
// directly. The local state is on this node by construction; the pod list (a second request, and
// half of the metrics path's cost over the API server, bench/results.md) is asked only when the
// local answer is not conclusive or the metrics request did not give the figure.
import { parseBytes } from '../../kube/quantity.js';
import { ApiError, getJson, type ApiConnections } from '../../kube/http.js';
import { loadCredentials, UnsafeCredentials, type ApiCredentials } from '../../kube/kubeconfig.js';
import { containerIdOf } from '../../kube/ids.js';
import { isObj, type Obj } from '../../util/json.js';
import { errorLine } from '../../util/errors.js';
import { CheckError } from '../errors.js';
import { findCgroupDir, kubeCgroupCandidates } from '../cgroup.js';
import { findLocalKubeContainers } from './containerd.js';
import type { Measurement, MemorySource, SourceContext } from '../source.js';

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
      containerId: rawId ? containerIdOf(rawId) : undefined,
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
  connections: ApiConnections,
): Promise<FeaturePod[]> {
  const selector = encodeURIComponent(`spec.nodeName=${node}`);
  const list = await getJson(creds, `/api/v1/namespaces/${namespace}/pods?fieldSelector=${selector}`, deadline, connections);
  return featurePodsFromList(list, container);
}

export async function podWorkingSet(
  creds: ApiCredentials,
  namespace: string,
  pod: string,
  container: string,
  deadline: number,
  connections: ApiConnections,
): Promise<number | undefined> {
  const path = `/apis/metrics.k8s.io/v1beta1/namespaces/${namespace}/pods/${encodeURIComponent(pod)}`;
  const body = await getJson(creds, path, deadline, connections);
  return containerWorkingSet(body, container);
}

/** What metrics.k8s.io answered for one pod: the working set, no entry for the container, or a failure. */
type MetricsAnswer = { pod: string; answer: number | undefined | ApiError };

async function askMetrics(ctx: SourceContext, creds: ApiCredentials, pod: string): Promise<MetricsAnswer> {
  const { opts } = ctx;
  try {
    return { pod, answer: await podWorkingSet(creds, opts.namespace, pod, opts.container, ctx.kubeDeadline, ctx.connections) };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { pod, answer: e };
  }
}

/**
 * The pod of the feature's container on this node from containerd's task state, when that is
 * conclusive: exactly one task of the container in the namespace, with a live process (a task
 * whose process is gone is stale and never used). undefined: ask the API server (pod list).
 */
async function localPod(ctx: SourceContext): Promise<string | undefined> {
  const { opts, settings } = ctx;
  // --node names another node: this node's containerd knows nothing of its pods.
  if (opts.node !== undefined && opts.node.toLowerCase() !== settings.nodeName.toLowerCase()) return undefined;
  const found = await findLocalKubeContainers(settings.containerdState, settings.procRoot, opts.container, opts.namespace);
  if (found.length > 1)
    ctx.notes.push(
      `kube: ${found.length} containerd tasks of ${opts.container} (${found.map((c) => c.podName).join(', ')}): asking the pod list`,
    );
  const [task] = found;
  return found.length === 1 && task?.pid !== undefined && task.podName ? task.podName : undefined;
}

/**
 * metrics.k8s.io for the pod containerd names, one request. undefined: no figure from it (a failure,
 * no such PodMetrics, no entry for the container yet), and the answer is handed to the pod-list
 * path, which does not ask the same question again.
 */
async function fromLocalPod(ctx: SourceContext, creds: ApiCredentials, pod: string): Promise<Measurement | MetricsAnswer> {
  const asked = await askMetrics(ctx, creds, pod);
  if (typeof asked.answer !== 'number') return asked;
  // Only with the figure: after a failed or empty answer the pod list decides, and a pod list that
  // fails must still leave the local sources (containerd's files) their turn.
  ctx.apiReachable = true;
  ctx.notes.push(`kube: pod ${pod} from containerd's task state`);
  return ctx.measured(asked.answer, 'metrics.k8s.io', 'kube', { pod });
}

async function measurePod(
  ctx: SourceContext,
  creds: ApiCredentials,
  pod: FeaturePod,
  asked: MetricsAnswer | undefined,
): Promise<Measurement | undefined> {
  const { opts } = ctx;
  if (opts.source !== 'cgroup') {
    const { answer } = asked?.pod === pod.name ? asked : await askMetrics(ctx, creds, pod.name);
    if (typeof answer === 'number') return ctx.measured(answer, 'metrics.k8s.io', 'kube', { pod: pod.name });
    ctx.notes.push(answer === undefined ? `metrics: no ${opts.container} entry for pod ${pod.name} yet` : `metrics: ${answer.message}`);
    if (opts.source === 'kube') throw new CheckError(1, `metrics.k8s.io: ${ctx.notes.at(-1) ?? 'no data'}`);
  }
  if (!pod.containerId) throw new CheckError(1, `pod ${pod.name} reports no container id for ${opts.container}`);
  const fs = await ctx.fs();
  const dir = await findCgroupDir(
    fs,
    kubeCgroupCandidates({ podUid: pod.uid, containerId: pod.containerId, qosClass: pod.qosClass }),
    pod.containerId,
  );
  if (!dir) throw new CheckError(1, `cgroup of container ${pod.containerId.slice(0, 12)} (pod ${pod.name}) not found under ${fs.root}`);
  const usage = await ctx.readOrGone(dir);
  return usage === undefined ? undefined : ctx.measured(usage, 'cgroup', 'kube', { pod: pod.name, cgroup: dir });
}

async function fromKube(ctx: SourceContext) {
  const { opts } = ctx;
  let creds: ApiCredentials | undefined;
  try {
    creds = await loadCredentials(opts.kubeconfig, ctx.settings.api);
  } catch (e) {
    if (opts.kubeconfig) throw new CheckError(1, errorLine(e));
    // A kubeconfig found by default but refused (group/world-readable) or unreadable: the check
    // goes on without the API server — containerd's files and Docker still find and measure the
    // container — and says so on stderr. Exit 1 instead would turn monit's memory guard off for
    // every feature, native ones included, until someone fixed a file mode.
    if (e instanceof UnsafeCredentials) ctx.warn(`kube source skipped: ${errorLine(e)}`);
    else ctx.notes.push(`kube: ${errorLine(e)}`);
    return undefined;
  }
  if (!creds) {
    ctx.notes.push('kube: no credentials');
    return undefined;
  }
  // The metrics path (not --source cgroup, which wants the pod list's container id): one request
  // when containerd names the pod; else, or when that request gives no figure, the pod list.
  let asked: MetricsAnswer | undefined;
  if (opts.source !== 'cgroup') {
    const pod = await localPod(ctx);
    if (pod !== undefined) {
      const local = await fromLocalPod(ctx, creds, pod);
      if ('status' in local) return local;
      asked = local;
    }
  }
  let pods: FeaturePod[];
  try {
    pods = await listFeaturePods(creds, opts.namespace, ctx.node, opts.container, ctx.kubeDeadline, ctx.connections);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    // The metrics request's own failure first: it is why the pod list was asked.
    if (asked?.answer instanceof ApiError) ctx.notes.push(`metrics: ${asked.answer.message}`);
    ctx.notes.push(`kube: pod list: ${e.message}`);
    return undefined;
  }
  ctx.apiReachable = true;
  if (pods.length === 0) {
    ctx.notes.push(`kube: no pod with container ${opts.container} on node ${ctx.node}`);
    return undefined;
  }
  const running = pods.filter((p) => p.running);
  if (running.length === 0) {
    ctx.notes.push(`kube: container ${opts.container} is not running in ${pods.map((p) => p.name).join(', ')}`);
    return ctx.notRunning();
  }
  const results: Measurement[] = [];
  for (const pod of running) {
    const m = await measurePod(ctx, creds, pod, asked);
    if (m) results.push(m);
  }
  return ctx.largest(results) ?? ctx.notRunning();
}

export const kubeSource: MemorySource = {
  name: 'kube',
  applies: (ctx) => ctx.opts.source !== 'docker',
  async find(ctx) {
    const outcome = await fromKube(ctx);
    if (!outcome && ctx.opts.source === 'kube') throw new CheckError(1, `kubernetes source failed: ${ctx.notes.join('; ')}`);
    return outcome;
  },
};

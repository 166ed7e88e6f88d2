// What the API server says about one feature on one node, kept current by watches (the feature's
// pods on the node, and the node for its disable taint). Consumers get the observation after every
// change, and only while both watches are fresh: after a watch breaks, nothing is reported until the
// re-list succeeds, so a consumer never acts on a view it could not see.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { disableTaint, hasTaint, podContainerRunning, watchFeaturePods, watchNode, type Kube } from '../kube/client.js';
import { shortContainerId, type Observation } from './state.js';

export interface ViewTarget {
  feature: string;
  namespace: string;
  node: string;
}

export function observe(feature: string, pods: Iterable<V1Pod>, node: V1Node | undefined): Observation {
  let running = false;
  let containerId: string | undefined;
  let podPresent = false;
  for (const pod of pods) {
    podPresent = true;
    if (podContainerRunning(pod, feature)) {
      running = true;
      containerId = shortContainerId(pod.status?.containerStatuses?.find((c) => c.name === feature)?.containerID);
    }
  }
  return { running, containerId, podPresent, disabledByTaint: node ? hasTaint(node, disableTaint(feature)) : false };
}

export class FeatureView {
  apiRequests = 0;
  private pods = new Map<string, V1Pod>();
  private nodeObj: V1Node | undefined;
  private podsFresh = false;
  private nodeFresh = false;
  private stopped = false;
  private aborts: AbortController[] = [];
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly k: Kube,
    private readonly t: ViewTarget,
    private readonly onChange: (o: Observation) => void,
    private readonly log: (line: string) => void = () => undefined,
    private readonly maxBackoffMs = 10_000,
  ) {}

  get fresh(): boolean {
    return this.podsFresh && this.nodeFresh;
  }

  /** The current observation, or undefined while the view is not fresh. */
  current(): Observation | undefined {
    return this.fresh ? observe(this.t.feature, this.pods.values(), this.nodeObj) : undefined;
  }

  async start(): Promise<void> {
    await Promise.all([this.listAndWatchPods(0), this.listAndWatchNode(0)]);
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
    for (const t of this.timers) clearTimeout(t);
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private backoff(attempt: number): number {
    return Math.min(200 * 2 ** attempt, this.maxBackoffMs);
  }

  private changed(): void {
    const o = this.current();
    if (o) this.onChange(o);
  }

  private async listAndWatchPods(attempt: number): Promise<void> {
    if (this.stopped) return;
    const { feature, namespace, node } = this.t;
    try {
      this.apiRequests++;
      const list = await this.k.core.listNamespacedPod({ namespace, labelSelector: `app=${feature}`, fieldSelector: `spec.nodeName=${node}` });
      this.pods = new Map(list.items.map((p) => [p.metadata!.uid!, p]));
      this.podsFresh = true;
      this.changed();
      this.apiRequests++;
      const abort = await watchFeaturePods(
        this.k,
        namespace,
        feature,
        node,
        ({ type, pod }) => {
          const uid = pod.metadata?.uid;
          if (!uid || type === 'BOOKMARK') return;
          if (type === 'DELETED') this.pods.delete(uid);
          else this.pods.set(uid, pod);
          this.changed();
        },
        (err) => {
          // The watch ended (timeout, apiserver restart, network): keep what we know, re-list.
          this.podsFresh = false;
          if (err) this.log(`pod watch ended: ${String(err)}`);
          this.later(() => void this.listAndWatchPods(err ? attempt + 1 : 0), err ? this.backoff(attempt) : 0);
        },
        list.metadata?.resourceVersion,
      );
      this.aborts.push(abort);
    } catch (e) {
      this.podsFresh = false;
      this.log(`pod list failed (retrying): ${e instanceof Error ? e.message : String(e)}`);
      this.later(() => void this.listAndWatchPods(attempt + 1), this.backoff(attempt));
    }
  }

  private async listAndWatchNode(attempt: number): Promise<void> {
    if (this.stopped) return;
    try {
      this.apiRequests++;
      this.nodeObj = await this.k.core.readNode({ name: this.t.node });
      this.nodeFresh = true;
      this.changed();
      this.apiRequests++;
      const abort = await watchNode(
        this.k,
        this.t.node,
        (type, n) => {
          if (type === 'BOOKMARK') return;
          this.nodeObj = type === 'DELETED' ? undefined : n;
          this.changed();
        },
        (err) => {
          this.nodeFresh = false;
          this.later(() => void this.listAndWatchNode(err ? attempt + 1 : 0), err ? this.backoff(attempt) : 0);
        },
      );
      this.aborts.push(abort);
    } catch (e) {
      this.nodeFresh = false;
      this.log(`node read failed (retrying): ${e instanceof Error ? e.message : String(e)}`);
      this.later(() => void this.listAndWatchNode(attempt + 1), this.backoff(attempt));
    }
  }
}

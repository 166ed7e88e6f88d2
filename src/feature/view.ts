// What the API server says about one feature on one node, kept current by watches (the feature's
// pods on the node, and the node for its disable taint). Consumers get the observation after every
// change, and only while both watches are fresh: after a watch breaks, nothing is reported until the
// re-list succeeds, so a consumer never acts on a view it could not see.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { disableTaint, hasTaint, podContainerRunning, type Cluster, type FeatureTarget, type WatchHandle } from '../kube/cluster.js';
import { shortContainerId } from '../kube/ids.js';
import { errorLine } from '../util/errors.js';
import type { Observation } from './state.js';

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

/**
 * One list-then-watch loop: list, report, watch from the list's resourceVersion; when the watch
 * ends, mark stale and start over (at once after a clean close, with backoff after an error).
 */
class ListWatch {
  fresh = false;
  private handle: WatchHandle | undefined;

  constructor(
    private readonly name: string,
    private readonly list: () => Promise<string | undefined>,
    private readonly watch: (resourceVersion: string | undefined, onDone: (err: unknown) => void) => Promise<WatchHandle>,
    private readonly view: FeatureView,
  ) {}

  async run(attempt: number): Promise<void> {
    if (this.view.stopped) return;
    try {
      this.view.apiRequests++;
      const rv = await this.list();
      this.fresh = true;
      this.view.changed();
      this.view.apiRequests++;
      this.handle = await this.watch(rv, (err) => {
        // The watch ended (timeout, apiserver restart, network): keep what we know, re-list.
        this.fresh = false;
        this.handle = undefined;
        if (err) this.view.log(`${this.name} watch ended: ${errorLine(err)}`);
        this.view.later(() => void this.run(err ? attempt + 1 : 0), err ? this.view.backoff(attempt) : 0);
      });
      if (this.view.stopped) this.stop();
    } catch (e) {
      this.fresh = false;
      this.view.log(`${this.name} list failed (retrying): ${errorLine(e)}`);
      this.view.later(() => void this.run(attempt + 1), this.view.backoff(attempt));
    }
  }

  stop(): void {
    this.handle?.stop();
    this.handle = undefined;
  }
}

export class FeatureView {
  apiRequests = 0;
  stopped = false;
  private pods = new Map<string, V1Pod>();
  private nodeObj: V1Node | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly loops: ListWatch[];

  constructor(
    cluster: Cluster,
    private readonly t: FeatureTarget,
    private readonly onChange: (o: Observation) => void,
    readonly log: (line: string) => void = () => undefined,
    private readonly maxBackoffMs = 10_000,
  ) {
    const { feature, namespace, node } = t;
    this.loops = [
      new ListWatch(
        'pod',
        async () => {
          const list = await cluster.listFeaturePods(namespace, feature, node);
          this.pods = new Map(list.items.map((p) => [p.metadata!.uid!, p]));
          return list.resourceVersion;
        },
        (rv, onDone) =>
          cluster.watchFeaturePods(
            namespace,
            feature,
            node,
            rv,
            (type, pod) => {
              const uid = pod.metadata?.uid;
              if (!uid || type === 'BOOKMARK') return;
              if (type === 'DELETED') this.pods.delete(uid);
              else this.pods.set(uid, pod);
              this.changed();
            },
            onDone,
          ),
        this,
      ),
      new ListWatch(
        'node',
        async () => {
          this.nodeObj = await cluster.readNode(node);
          return undefined;
        },
        (_rv, onDone) =>
          cluster.watchNode(
            node,
            (type, n) => {
              if (type === 'BOOKMARK') return;
              this.nodeObj = type === 'DELETED' ? undefined : n;
              this.changed();
            },
            onDone,
          ),
        this,
      ),
    ];
  }

  get fresh(): boolean {
    return this.loops.every((l) => l.fresh);
  }

  /** The current observation, or undefined while the view is not fresh. */
  current(): Observation | undefined {
    return this.fresh ? observe(this.t.feature, this.pods.values(), this.nodeObj) : undefined;
  }

  async start(): Promise<void> {
    await Promise.all(this.loops.map((l) => l.run(0)));
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.loops) l.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** @internal for ListWatch */
  changed(): void {
    const o = this.current();
    if (o) this.onChange(o);
  }

  /** @internal for ListWatch */
  later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** @internal for ListWatch */
  backoff(attempt: number): number {
    return Math.min(200 * 2 ** attempt, this.maxBackoffMs);
  }
}

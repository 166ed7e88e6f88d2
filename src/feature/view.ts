// What the API server says about kubesonic's pods on one node, kept current by two watches: the
// pods (in the feature namespace, bound to the node, matching a label selector) and the node itself
// (for the disable taints). Consumers get a snapshot after every change, and only while both
// watches are fresh: after a watch breaks nothing is reported until the re-list succeeds, so a
// consumer never acts on a view it could not see.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import {
  disableTaint,
  hasTaint,
  podContainerRunning,
  stopTaint,
  type ClusterReader,
  type FeatureTarget,
  type WatchHandle,
} from '../kube/cluster.js';
import { featureSelector, shortContainerId } from '../kube/ids.js';
import { errorLine } from '../util/errors.js';
import type { Observation, OomKill } from './state.js';

/** An image's version as `show feature status` shows it: its tag ("docker-sonic-bmp:4.1.0" → "4.1.0"), else its digest's start. */
export function imageVersion(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const at = image.indexOf('@');
  if (at !== -1)
    return image
      .slice(at + 1)
      .replace(/^sha256:/, '')
      .slice(0, 12);
  const name = image.slice(image.lastIndexOf('/') + 1);
  const colon = name.lastIndexOf(':');
  return colon === -1 ? 'latest' : name.slice(colon + 1);
}

/**
 * The feature container's last termination if the kernel OOM-killed it (the kubelet's reason
 * "OOMKilled"). The killed container's id names the kill: a restarted agent, or the next status
 * update of the same pod, shows the same id and it is not counted again.
 */
export function oomKillOf(feature: string, pod: V1Pod): OomKill | undefined {
  const cs = pod.status?.containerStatuses?.find((c) => c.name === feature);
  const t = cs?.lastState?.terminated;
  if (!cs || t?.reason !== 'OOMKilled') return undefined;
  const finishedAt = t.finishedAt ? new Date(t.finishedAt) : undefined;
  const id = shortContainerId(t.containerID) || (finishedAt ? finishedAt.toISOString() : `${pod.metadata?.uid ?? ''}/${cs.restartCount}`);
  const limit = pod.spec?.containers.find((c) => c.name === feature)?.resources?.limits?.memory;
  return {
    id,
    finishedAt,
    restartCount: cs.restartCount,
    pod: pod.metadata?.name ?? '',
    limit: limit === undefined ? undefined : String(limit),
  };
}

export function observe(feature: string, pods: Iterable<V1Pod>, node: V1Node | undefined): Observation {
  let running = false;
  let containerId: string | undefined;
  let containerVersion: string | undefined;
  let podPresent = false;
  let lastOomKill: OomKill | undefined;
  for (const pod of pods) {
    if (pod.metadata?.labels?.app !== feature) continue;
    podPresent = true;
    const oom = oomKillOf(feature, pod);
    // Two pods of one feature on a node only happen mid-rollout: the newer kill is the one to count.
    if (oom && (!lastOomKill || (oom.finishedAt?.getTime() ?? 0) > (lastOomKill.finishedAt?.getTime() ?? 0))) lastOomKill = oom;
    if (podContainerRunning(pod, feature)) {
      running = true;
      const cs = pod.status?.containerStatuses?.find((c) => c.name === feature);
      containerId = shortContainerId(cs?.containerID);
      containerVersion = imageVersion(pod.spec?.containers.find((c) => c.name === feature)?.image ?? cs?.image);
    }
  }
  return {
    running,
    containerId,
    containerVersion,
    podPresent,
    disabledByTaint: node ? hasTaint(node, disableTaint(feature)) : false,
    stoppedByUnit: node ? hasTaint(node, stopTaint(feature)) : false,
    ...(lastOomKill ? { lastOomKill } : {}),
  };
}

export interface NodeSnapshot {
  pods: V1Pod[];
  node: V1Node | undefined;
}

export interface NodeViewTarget {
  namespace: string;
  node: string;
  labelSelector: string;
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
    private readonly view: NodeView,
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

export class NodeView {
  apiRequests = 0;
  stopped = false;
  private pods = new Map<string, V1Pod>();
  private nodeObj: V1Node | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly loops: ListWatch[];

  constructor(
    cluster: ClusterReader,
    t: NodeViewTarget,
    private readonly onChange: (s: NodeSnapshot) => void,
    readonly log: (line: string) => void = () => undefined,
    private readonly maxBackoffMs = 10_000,
  ) {
    const { namespace, node, labelSelector } = t;
    this.loops = [
      new ListWatch(
        'pod',
        async () => {
          const list = await cluster.listNodePods(namespace, node, labelSelector);
          this.pods = new Map(list.items.map((p) => [p.metadata!.uid!, p]));
          return list.resourceVersion;
        },
        (rv, onDone) =>
          cluster.watchNodePods(
            namespace,
            node,
            labelSelector,
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

  /** The current snapshot, or undefined while the view is not fresh. */
  current(): NodeSnapshot | undefined {
    return this.fresh ? { pods: [...this.pods.values()], node: this.nodeObj } : undefined;
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
    const s = this.current();
    if (s) this.onChange(s);
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

/** One feature's observation on one node, after every change (the unit stub's wait uses it). */
export class FeatureView {
  private readonly view: NodeView;

  constructor(
    cluster: ClusterReader,
    private readonly t: FeatureTarget,
    onChange: (o: Observation) => void,
    log: (line: string) => void = () => undefined,
    maxBackoffMs = 10_000,
  ) {
    const target = { namespace: t.namespace, node: t.node, labelSelector: featureSelector(t.feature) };
    this.view = new NodeView(cluster, target, (s) => onChange(observe(t.feature, s.pods, s.node)), log, maxBackoffMs);
  }

  get fresh(): boolean {
    return this.view.fresh;
  }

  get apiRequests(): number {
    return this.view.apiRequests;
  }

  current(): Observation | undefined {
    const s = this.view.current();
    return s && observe(this.t.feature, s.pods, s.node);
  }

  start(): Promise<void> {
    return this.view.start();
  }

  stop(): void {
    this.view.stop();
  }
}

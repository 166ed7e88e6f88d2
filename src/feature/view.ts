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
  WATCH_SECONDS,
} from '../kube/cluster.js';
import { featureSelector, shortContainerId } from '../kube/ids.js';
import { errorLine } from '../util/errors.js';
import { monotonicMs } from '../util/wait.js';
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

/**
 * What the FEATURE table and the unit should say of `feature`. `held`: the host-side hold
 * (host/hold.ts), where this process sees the host's files: when on, whatever the pod says, the
 * feature's daemon does not run (its container waits); when off, the unit was not stopped, whatever
 * the node's stop taint says (the taint only reports the hold, and may lag behind it while the API
 * server was away). undefined (no view of the host): the stop taint is all there is to go by.
 * `nativeMarked`: the native marker (host/hold.ts `<f>.native`) is on: a native container may run,
 * so the pod's container only waits in its wrapper — present but not running (pending), never running.
 */
export function observe(
  feature: string,
  pods: Iterable<V1Pod>,
  node: V1Node | undefined,
  held?: boolean,
  nativeMarked = false,
): Observation {
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
    if (!held && !nativeMarked && podContainerRunning(pod, feature)) {
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
    stoppedByUnit: held ?? (node ? hasTaint(node, stopTaint(feature)) : false),
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
 * How a list-then-watch loop paces itself. Without it a watch that the API server (or a proxy in
 * front of it) ends cleanly at once was re-listed at once, a list+watch hot loop; and an idle,
 * silently dead connection was noticed only when TCP keep-alive gave up, minutes later, while the
 * view still called itself fresh.
 */
export interface WatchTiming {
  /** Backoff ceiling after failures (jittered: each wait is between half and all of the step). */
  maxBackoffMs: number;
  /** A watch that stayed up this long was healthy: the next re-list comes at once and the backoff starts over. */
  healthyMs: number;
  /**
   * No event for this long and the watch has not ended — and the connection is taken for dead and
   * replaced. A healthy watch always ends by itself at its timeoutSeconds (WATCH_SECONDS), so this
   * is that plus a margin: it never fires on a healthy watch, bookmarks or not. (Bookmarks, which
   * the watches ask for, come about once a minute, but only when the watch cache's revision moved
   * past the watch's start — some pod, some node changed anywhere in the cluster; a quiet cluster
   * sends none, so they cannot be the heartbeat.) TCP keep-alive (kube/lean.ts) notices a dead peer
   * within about a minute; this is for a connection something in between keeps half open.
   */
  idleMs: number;
  /** [0, 1): the jitter's source (tests pin it). */
  random: () => number;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = {
  maxBackoffMs: 10_000,
  healthyMs: 60_000,
  idleMs: WATCH_SECONDS * 1000 + 30_000,
  random: Math.random,
};

/** The wait before attempt `attempt` (0: the first retry): 200 ms doubling to the ceiling, jittered into its upper half. */
export function backoffMs(attempt: number, timing: Pick<WatchTiming, 'maxBackoffMs' | 'random'>): number {
  const step = Math.min(200 * 2 ** Math.min(attempt, 30), timing.maxBackoffMs);
  return Math.round(step / 2 + (timing.random() * step) / 2);
}

/**
 * One list-then-watch loop: list, report, watch from the list's resourceVersion. A watch that ended
 * cleanly after a healthy while (its timeoutSeconds) is resumed at once from the last
 * resourceVersion it delivered — one request, no list, the view stays fresh — as client-go's
 * reflector does; any other end marks the view stale and starts over with a list, after a jittered
 * backoff that grows with every short-lived or failed cycle (a resume the server refuses, 410 Gone
 * included, is such a failure). Each cycle ends exactly once (watch end, list failure, or the idle
 * watchdog), so a failure reported twice never starts two loops.
 */
class ListWatch {
  fresh = false;
  private handle: WatchHandle | undefined;
  /** The cycle in progress; callbacks of an older one are ignored. */
  private cycle = 0;
  private watchdog: NodeJS.Timeout | undefined;
  /** The newest resourceVersion the list or the watch delivered (bookmarks included). */
  private lastRv: string | undefined;

  constructor(
    private readonly name: string,
    private readonly list: () => Promise<string | undefined>,
    private readonly watch: (
      resourceVersion: string | undefined,
      alive: (resourceVersion?: string) => void,
      onDone: (err: unknown) => void,
    ) => Promise<WatchHandle>,
    private readonly view: NodeView,
  ) {}

  /** `resume`: watch from the last resourceVersion without a list (after a healthy watch's clean end). */
  async run(attempt: number, resume = false): Promise<void> {
    if (this.view.stopped) return;
    const cycle = ++this.cycle;
    let step = 'list';
    try {
      if (!resume || this.lastRv === undefined) {
        this.view.apiRequests++;
        this.lastRv = await this.list();
        if (cycle !== this.cycle || this.view.stopped) return;
        this.fresh = true;
        this.view.changed();
      }
      this.view.apiRequests++;
      step = resume ? 'resumed watch' : 'watch';
      // A watch may end before its start resolves (a failed connect reports both ways).
      let since = monotonicMs();
      const handle = await this.watch(
        this.lastRv,
        (rv) => {
          if (cycle === this.cycle && rv) this.lastRv = rv;
          this.alive(cycle);
        },
        (err) => this.ended(cycle, attempt, since, err),
      );
      since = monotonicMs();
      if (cycle !== this.cycle || this.view.stopped) {
        handle.stop();
        return;
      }
      this.handle = handle;
      this.alive(cycle);
    } catch (e) {
      this.restart(cycle, attempt + 1, `${step} failed (retrying): ${errorLine(e)}`);
    }
  }

  /** Something arrived on the watch (an event or a bookmark): the connection lives. */
  private alive(cycle: number): void {
    if (cycle !== this.cycle || this.view.stopped) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.restart(cycle, 0, `watch silent for ${Math.round(this.view.timing.idleMs / 1000)} s: reconnecting`);
    }, this.view.timing.idleMs);
  }

  /** The watch ended (timeout, API server restart, network). */
  private ended(cycle: number, attempt: number, since: number, err: unknown): void {
    // Only a watch that stayed up long enough resets the backoff: a server or proxy that closes
    // every watch at once, cleanly or not, must not make this loop spin.
    const healthy = monotonicMs() - since >= this.view.timing.healthyMs;
    const next = healthy ? 0 : attempt + 1;
    this.restart(cycle, next, err ? `watch ended: ${errorLine(err)}` : healthy ? undefined : 'watch ended early', healthy && !err);
  }

  /**
   * End this cycle (once) and schedule the next: a resume at once after a healthy watch's clean
   * end (`resume`), else a re-list after the backoff for `attempt`.
   */
  private restart(cycle: number, attempt: number, why: string | undefined, resume = false): void {
    if (cycle !== this.cycle || this.view.stopped) return;
    this.cycle++;
    clearTimeout(this.watchdog);
    this.handle?.stop();
    this.handle = undefined;
    // A resume keeps the view fresh (nothing was missed: the next watch starts where this one
    // ended). Otherwise keep what we know but say it is stale: consumers get nothing until the re-list.
    if (!resume) this.fresh = false;
    if (why) this.view.log(`${this.name} ${why}`);
    this.view.later(() => void this.run(attempt, resume), resume ? 0 : backoffMs(Math.max(attempt - 1, 0), this.view.timing));
  }

  stop(): void {
    this.cycle++;
    clearTimeout(this.watchdog);
    this.handle?.stop();
    this.handle = undefined;
  }
}

export class NodeView {
  apiRequests = 0;
  stopped = false;
  readonly timing: WatchTiming;
  private pods = new Map<string, V1Pod>();
  private nodeObj: V1Node | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly loops: ListWatch[];

  constructor(
    cluster: ClusterReader,
    t: NodeViewTarget,
    private readonly onChange: (s: NodeSnapshot) => void,
    readonly log: (line: string) => void = () => undefined,
    maxBackoffMs = DEFAULT_WATCH_TIMING.maxBackoffMs,
    timing: Partial<WatchTiming> = {},
  ) {
    this.timing = { ...DEFAULT_WATCH_TIMING, maxBackoffMs, ...timing };
    const { namespace, node, labelSelector } = t;
    this.loops = [
      new ListWatch(
        'pod',
        async () => {
          const list = await cluster.listNodePods(namespace, node, labelSelector);
          this.pods = new Map(list.items.map((p) => [p.metadata!.uid!, p]));
          return list.resourceVersion;
        },
        (rv, alive, onDone) =>
          cluster.watchNodePods(
            namespace,
            node,
            labelSelector,
            rv,
            (type, pod) => {
              alive(pod.metadata?.resourceVersion);
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
        (_rv, alive, onDone) =>
          cluster.watchNode(
            node,
            (type, n) => {
              alive(n.metadata?.resourceVersion);
              // ERROR carries a Status, not a node (client-node passes it through; the stream then ends).
              if (type === 'BOOKMARK' || type === 'ERROR') return;
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

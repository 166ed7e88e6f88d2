// An in-memory Cluster (src/kube/cluster.ts) for table tests: nodes, pods and objects in maps,
// watches that fire on every change, and — when asked — the DaemonSet controller and kubelet in one
// line: a DaemonSet of feature f has a pod on every node not tainted f=disabled:NoSchedule, and the
// pod's feature daemon runs once its wrapper lets it (`gateOpen`: no hold, no native marker).
import { randomBytes, randomUUID } from 'node:crypto';
import type { KubernetesObject, V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import { ConflictError, heldOff, type Cluster, type PodList, type WatchEventType, type WatchHandle } from '../../src/kube/cluster.js';

type PodWatcher = {
  namespace: string;
  node: string;
  labelSelector: string;
  onEvent: (t: WatchEventType, p: V1Pod) => void;
  onDone: (err: unknown) => void;
};
type NodeWatcher = { node: string; onEvent: (t: WatchEventType, n: V1Node) => void; onDone: (err: unknown) => void };

const key = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

/** Equality-based label selectors ("a=b,c=d"), all the product uses. */
export function matchesSelector(pod: V1Pod, selector: string): boolean {
  const labels = pod.metadata?.labels ?? {};
  return selector
    .split(',')
    .filter(Boolean)
    .every((term) => {
      const [k, v] = term.split('=');
      return labels[k!] === v;
    });
}

export class FakeCluster implements Cluster {
  readonly nodes = new Map<string, V1Node>();
  readonly pods = new Map<string, V1Pod>();
  readonly objects = new Map<string, KubernetesObject>();
  /** Every call, in order ("deletePod sonic/bmp-x", …). */
  readonly calls: string[] = [];
  /** The API server is unreachable: every call rejects. */
  down = false;
  /** Play the DaemonSet controller and the kubelet after every change. */
  controllers = false;
  /** The feature container's wrapper (render.ts holdWrapped): may the daemon of `feature` run on `node`? */
  gateOpen: (feature: string, node: string) => boolean = () => true;
  /** Called after every change (an invariant monitor hooks in here). */
  onChange: () => void = () => undefined;
  /** Fail the next N taint patches with a conflict, as a concurrent writer would. */
  conflicts = 0;
  private rv = 1;
  private readonly podWatchers = new Set<PodWatcher>();
  private readonly nodeWatchers = new Set<NodeWatcher>();

  /** Objects already in the cluster (applied by someone else, before the test). */
  seed(objs: readonly KubernetesObject[]): void {
    for (const o of objs) this.objects.set(key(o), structuredClone(o));
  }

  addNode(name: string, taints: V1Taint[] = []): V1Node {
    const node: V1Node = { metadata: { name, resourceVersion: String(this.rv++) }, spec: taints.length ? { taints } : {} };
    this.nodes.set(name, node);
    return node;
  }

  addPod(feature: string, node: string, opts: { running?: boolean; namespace?: string; name?: string; version?: string } = {}): V1Pod {
    const pod: V1Pod = {
      metadata: {
        name: opts.name ?? `${feature}-${randomBytes(3).toString('hex')}`,
        namespace: opts.namespace ?? 'sonic',
        uid: randomUUID(),
        labels: { app: feature, 'kubesonic.sonic-net.github.io/role': 'feature' },
        annotations: opts.version ? { 'kubesonic.sonic-net.github.io/migration-version': opts.version } : {},
      },
      spec: { nodeName: node, containers: [{ name: feature }] },
      status: {
        phase: 'Pending',
        containerStatuses: [
          { name: feature, image: 'x', imageID: 'x', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } },
        ],
      },
    };
    this.pods.set(pod.metadata!.uid!, pod);
    if (opts.running) this.setRunning(pod);
    this.emitPod('ADDED', pod);
    return pod;
  }

  setRunning(pod: V1Pod): void {
    const cs = pod.status!.containerStatuses![0]!;
    cs.state = { running: { startedAt: new Date() } };
    cs.ready = true;
    cs.containerID = `containerd://${randomBytes(32).toString('hex')}`;
    pod.status!.phase = 'Running';
  }

  /** The kubelet's restart of a pod's feature container after it stopped: same pod, next attempt. */
  restartContainer(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    const cs = pod.status!.containerStatuses![0]!;
    cs.restartCount = (cs.restartCount ?? 0) + 1;
    this.setRunning(pod);
    this.emitPod('MODIFIED', pod);
    this.changed();
  }

  /**
   * The kernel OOM-kills the feature container and the kubelet restarts it in place: lastState
   * says OOMKilled with the killed container's id, restartCount + 1, a new container id.
   */
  oomKill(pod: V1Pod, finishedAt = new Date()): void {
    const cs = pod.status!.containerStatuses![0]!;
    cs.lastState = { terminated: { reason: 'OOMKilled', exitCode: 137, containerID: cs.containerID, finishedAt } };
    cs.restartCount += 1;
    this.setRunning(pod);
    this.emitPod('MODIFIED', pod);
  }

  /** Any other status update of the pod (a probe flipping readiness): no new kill. */
  touch(pod: V1Pod): void {
    this.emitPod('MODIFIED', pod);
  }

  podsOf(feature: string, node: string, namespace = 'sonic'): V1Pod[] {
    return [...this.pods.values()].filter(
      (p) => p.metadata?.labels?.app === feature && p.spec?.nodeName === node && p.metadata?.namespace === namespace,
    );
  }

  runningPodsOf(feature: string, node: string): V1Pod[] {
    return this.podsOf(feature, node).filter((p) => p.status?.containerStatuses?.[0]?.state?.running);
  }

  tainted(feature: string, node: string): boolean {
    const n = this.nodes.get(node);
    return n ? heldOff(n, feature) : false;
  }

  /** The DaemonSet controller and kubelet, one pass. */
  reconcile(): void {
    if (!this.controllers) return;
    for (const ds of this.objects.values()) {
      if (ds.kind !== 'DaemonSet') continue;
      const feature = (ds as { spec?: { selector?: { matchLabels?: Record<string, string> } } }).spec?.selector?.matchLabels?.app;
      if (!feature) continue;
      const selector =
        (ds as { spec?: { template?: { spec?: { nodeSelector?: Record<string, string> } } } }).spec?.template?.spec?.nodeSelector ?? {};
      for (const [node, n] of this.nodes) {
        const pods = this.podsOf(feature, node, ds.metadata?.namespace);
        // A node the DaemonSet no longer selects loses its pod (the controller deletes it).
        if (!Object.entries(selector).every(([k, v]) => n.metadata?.labels?.[k] === v)) {
          for (const p of pods) {
            this.pods.delete(p.metadata!.uid!);
            this.emitPod('DELETED', p);
          }
          continue;
        }
        if (pods.length === 0 && !this.tainted(feature, node)) this.addPod(feature, node, { namespace: ds.metadata?.namespace ?? 'sonic' });
        for (const p of this.podsOf(feature, node, ds.metadata?.namespace)) {
          if (!p.status?.containerStatuses?.[0]?.state?.running && this.gateOpen(feature, node)) {
            this.setRunning(p);
            this.emitPod('MODIFIED', p);
          }
        }
      }
    }
  }

  /** Drop every watch with an error, as an API server restart does. */
  breakWatches(err: unknown = new Error('connection reset')): void {
    const pods = [...this.podWatchers];
    const nodes = [...this.nodeWatchers];
    this.podWatchers.clear();
    this.nodeWatchers.clear();
    for (const w of pods) w.onDone(err);
    for (const w of nodes) w.onDone(err);
  }

  private changed(): void {
    this.reconcile();
    this.onChange();
  }

  private async call(what: string): Promise<void> {
    this.calls.push(what);
    await Promise.resolve();
    if (this.down) throw new Error('connect ECONNREFUSED 10.77.0.2:6443');
    // The controllers and the kubelet keep working between our calls.
    this.reconcile();
  }

  private emitPod(type: WatchEventType, pod: V1Pod): void {
    for (const w of this.podWatchers) {
      if (pod.metadata?.namespace === w.namespace && pod.spec?.nodeName === w.node && matchesSelector(pod, w.labelSelector))
        w.onEvent(type, structuredClone(pod));
    }
  }

  private emitNode(node: V1Node): void {
    for (const w of this.nodeWatchers) if (w.node === node.metadata?.name) w.onEvent('MODIFIED', structuredClone(node));
  }

  async readNode(name: string): Promise<V1Node> {
    await this.call(`readNode ${name}`);
    const n = this.nodes.get(name);
    if (!n) throw Object.assign(new Error(`nodes "${name}" not found`), { code: 404 });
    return structuredClone(n);
  }

  async replaceNodeTaints(node: V1Node, taints: V1Taint[]): Promise<void> {
    const name = node.metadata!.name!;
    await this.call(`replaceNodeTaints ${name} ${taints.map((t) => `${t.key}=${t.value}:${t.effect}`).join(',')}`);
    const current = this.nodes.get(name)!;
    if (this.conflicts > 0) {
      this.conflicts--;
      current.metadata!.resourceVersion = String(this.rv++);
    }
    if (current.metadata?.resourceVersion !== node.metadata?.resourceVersion) throw new ConflictError('resourceVersion changed');
    current.spec = { ...current.spec, taints: structuredClone(taints) };
    current.metadata!.resourceVersion = String(this.rv++);
    this.emitNode(current);
    this.changed();
  }

  async listNodePods(namespace: string, node: string, labelSelector: string): Promise<PodList> {
    await this.call(`listNodePods ${namespace}@${node} ${labelSelector}`);
    const items = [...this.pods.values()].filter(
      (p) => p.metadata?.namespace === namespace && p.spec?.nodeName === node && matchesSelector(p, labelSelector),
    );
    return { items: structuredClone(items), resourceVersion: String(this.rv) };
  }

  async setNodeLabel(name: string, key: string, value: string | null): Promise<void> {
    await this.call(`setNodeLabel ${name} ${key}=${value ?? '-'}`);
    const current = this.nodes.get(name);
    if (!current) throw Object.assign(new Error(`nodes "${name}" not found`), { code: 404 });
    const labels = { ...current.metadata?.labels };
    if (value === null) delete labels[key];
    else labels[key] = value;
    current.metadata = { ...current.metadata, labels, resourceVersion: String(this.rv++) };
    this.emitNode(current);
    this.changed();
  }

  async listNodeNames(labelSelector: string): Promise<string[]> {
    await this.call(`listNodeNames ${labelSelector}`);
    return [...this.nodes.values()].filter((n) => matchesSelector({ metadata: n.metadata }, labelSelector)).map((n) => n.metadata!.name!);
  }

  async deletePod(namespace: string, name: string): Promise<boolean> {
    await this.call(`deletePod ${namespace}/${name}`);
    const pod = [...this.pods.values()].find((p) => p.metadata?.name === name && p.metadata?.namespace === namespace);
    if (!pod) return false;
    this.pods.delete(pod.metadata!.uid!);
    this.emitPod('DELETED', pod);
    this.changed();
    return true;
  }

  async get(obj: KubernetesObject): Promise<KubernetesObject | undefined> {
    await this.call(`get ${key(obj)}`);
    const o = this.objects.get(key(obj));
    return o && structuredClone(o);
  }

  async exists(obj: KubernetesObject): Promise<boolean> {
    await this.call(`exists ${key(obj)}`);
    return this.objects.has(key(obj));
  }

  async apply(objs: readonly KubernetesObject[], dryRun = false): Promise<KubernetesObject[]> {
    await this.call(`apply ${objs.map(key).join(' ')}${dryRun ? ' (dry run)' : ''}`);
    if (!dryRun) for (const o of objs) this.objects.set(key(o), structuredClone(o));
    this.changed();
    return objs.map((o) => structuredClone(o));
  }

  async delete(objs: readonly KubernetesObject[]): Promise<void> {
    await this.call(`delete ${objs.map(key).join(' ')}`);
    // A deleted DaemonSet's pods stay until deleted (the garbage collector takes its time).
    for (const o of objs) this.objects.delete(key(o));
    this.changed();
  }

  async watchNodePods(
    namespace: string,
    node: string,
    labelSelector: string,
    _rv: string | undefined,
    onEvent: PodWatcher['onEvent'],
    onDone: PodWatcher['onDone'],
  ): Promise<WatchHandle> {
    await this.call(`watchNodePods ${namespace}@${node} ${labelSelector}`);
    const w = { namespace, node, labelSelector, onEvent, onDone };
    this.podWatchers.add(w);
    return { stop: () => this.podWatchers.delete(w) };
  }

  async watchNode(node: string, onEvent: NodeWatcher['onEvent'], onDone: NodeWatcher['onDone']): Promise<WatchHandle> {
    await this.call(`watchNode ${node}`);
    const w = { node, onEvent, onDone };
    this.nodeWatchers.add(w);
    return { stop: () => this.nodeWatchers.delete(w) };
  }
}

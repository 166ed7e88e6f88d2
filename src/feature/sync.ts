// `kubesonic sync`: the sidecar that mirrors the feature pod's real state on this node into the
// FEATURE table. Watches (pods of the feature on this node, and this node for the disable taint)
// instead of polling; keeps the last known state through apiserver or Redis outages and retries
// with backoff; never derives "disabled" from missing information.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { disableTaint, hasTaint, podContainerRunning, type Kube, watchFeaturePods, watchNode } from '../kube/client.js';
import { desiredFeatureState, shortContainerId, type Desired, type Observation } from './state.js';
import { writeFeatureState } from './db.js';

export interface SyncOptions {
  feature: string;
  namespace: string;
  node: string;
  /** Called after each successful write (for readiness and tests). */
  onWrite?: (desired: Desired, latencyMs: number) => void;
  log?: (line: string) => void;
  maxBackoffMs?: number;
}

export interface SyncStats {
  apiRequests: number;
  redisWrites: number;
  lastLatencyMs: number | undefined;
  fresh: boolean;
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

const sameDesired = (a: Desired | undefined, b: Desired) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

export class FeatureSync {
  readonly stats: SyncStats = { apiRequests: 0, redisWrites: 0, lastLatencyMs: undefined, fresh: false };
  private pods = new Map<string, V1Pod>();
  private nodeObj: V1Node | undefined;
  private podsFresh = false;
  private nodeFresh = false;
  private written: Desired | undefined;
  private changedAt = Date.now();
  private stopped = false;
  private aborts: AbortController[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = 250;
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly k: Kube,
    private readonly configDb: Redis,
    private readonly stateDb: Redis,
    private readonly opts: SyncOptions,
  ) {}

  private log(line: string): void {
    this.opts.log?.(`[sync ${this.opts.feature}] ${line}`);
  }

  async start(): Promise<void> {
    await Promise.all([this.listAndWatchPods(), this.listAndWatchNode()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const a of this.aborts) a.abort();
    await this.writing;
  }

  private backoff(attempt: number): number {
    return Math.min(200 * 2 ** attempt, this.opts.maxBackoffMs ?? 10_000);
  }

  private async listAndWatchPods(attempt = 0): Promise<void> {
    if (this.stopped) return;
    const { feature, namespace, node } = this.opts;
    try {
      this.stats.apiRequests++;
      const list = await this.k.core.listNamespacedPod({ namespace, labelSelector: `app=${feature}`, fieldSelector: `spec.nodeName=${node}` });
      this.pods = new Map(list.items.map((p) => [p.metadata!.uid!, p]));
      this.podsFresh = true;
      this.changed();
      this.stats.apiRequests++;
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
          if (!this.stopped) {
            if (err) this.log(`pod watch ended: ${String(err)}`);
            setTimeout(() => void this.listAndWatchPods(err ? attempt + 1 : 0), err ? this.backoff(attempt) : 0);
          }
        },
        list.metadata?.resourceVersion,
      );
      this.aborts.push(abort);
    } catch (e) {
      this.podsFresh = false;
      this.log(`pod list failed (retrying): ${e instanceof Error ? e.message : String(e)}`);
      setTimeout(() => void this.listAndWatchPods(attempt + 1), this.backoff(attempt));
    }
  }

  private async listAndWatchNode(attempt = 0): Promise<void> {
    if (this.stopped) return;
    try {
      this.stats.apiRequests++;
      this.nodeObj = await this.k.core.readNode({ name: this.opts.node });
      this.nodeFresh = true;
      this.changed();
      this.stats.apiRequests++;
      const abort = await watchNode(
        this.k,
        this.opts.node,
        (type, n) => {
          if (type === 'BOOKMARK') return;
          this.nodeObj = type === 'DELETED' ? undefined : n;
          this.changed();
        },
        (err) => {
          this.nodeFresh = false;
          if (!this.stopped) setTimeout(() => void this.listAndWatchNode(err ? attempt + 1 : 0), err ? this.backoff(attempt) : 0);
        },
      );
      this.aborts.push(abort);
    } catch (e) {
      this.nodeFresh = false;
      this.log(`node read failed (retrying): ${e instanceof Error ? e.message : String(e)}`);
      setTimeout(() => void this.listAndWatchNode(attempt + 1), this.backoff(attempt));
    }
  }

  private changed(): void {
    this.changedAt = Date.now();
    this.stats.fresh = this.podsFresh && this.nodeFresh;
    this.kick();
  }

  /** Current desired state, or undefined while the view is not fresh (nothing is written then). */
  desired(): Desired | undefined {
    if (!this.podsFresh || !this.nodeFresh) return undefined;
    return desiredFeatureState(observe(this.opts.feature, this.pods.values(), this.nodeObj));
  }

  private kick(): void {
    if (this.writing) {
      this.dirty = true;
      return;
    }
    this.writing = this.reconcile().finally(() => {
      this.writing = undefined;
      if (this.dirty && !this.stopped) {
        this.dirty = false;
        this.kick();
      }
    });
  }

  private async reconcile(): Promise<void> {
    const desired = this.desired();
    if (!desired || sameDesired(this.written, desired)) return;
    const since = this.changedAt;
    try {
      const result = await writeFeatureState(this.configDb, this.stateDb, this.opts.feature, desired);
      this.stats.redisWrites++;
      this.stats.lastLatencyMs = Date.now() - since;
      this.written = desired;
      this.retryDelay = 250;
      if (Object.keys(result.stateDb).length || result.configState) {
        this.log(`wrote STATE_DB ${JSON.stringify(result.stateDb)}${result.configState ? `, CONFIG_DB state=${result.configState}` : ''}`);
      }
      this.opts.onWrite?.(desired, this.stats.lastLatencyMs);
    } catch (e) {
      // Redis unreachable: keep the desired state and try again with backoff.
      this.log(`redis write failed (retrying in ${this.retryDelay} ms): ${e instanceof Error ? e.message : String(e)}`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.kick(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxBackoffMs ?? 10_000);
    }
  }
}

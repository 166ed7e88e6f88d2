// `kubesonic sync`: the sidecar that mirrors the feature pod's real state on this node into the
// FEATURE table. It rides on a FeatureView (watches, not polls); keeps the last known state through
// apiserver or Redis outages and retries with backoff; never derives "disabled" from missing
// information (the view reports nothing while it is not fresh).
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import { errorLine } from '../util/errors.js';
import { monotonicMs } from '../util/wait.js';
import { desiredFeatureState, type Desired, type Observation } from './state.js';
import { writeFeatureState, type FeatureDb } from './db.js';
import { FeatureView } from './view.js';

export interface SyncOptions extends FeatureTarget {
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

const sameDesired = (a: Desired | undefined, b: Desired) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

export class FeatureSync {
  private readonly view: FeatureView;
  private redisWrites = 0;
  private lastLatencyMs: number | undefined;
  private desired: Desired | undefined;
  private written: Desired | undefined;
  private changedAt = monotonicMs();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = 250;
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    cluster: Cluster,
    private readonly db: FeatureDb,
    private readonly opts: SyncOptions,
  ) {
    this.view = new FeatureView(
      cluster,
      opts,
      (o) => this.changed(o),
      (l) => this.log(l),
      opts.maxBackoffMs,
    );
  }

  get stats(): SyncStats {
    return { apiRequests: this.view.apiRequests, redisWrites: this.redisWrites, lastLatencyMs: this.lastLatencyMs, fresh: this.view.fresh };
  }

  private log(line: string): void {
    this.opts.log?.(`[sync ${this.opts.feature}] ${line}`);
  }

  start(): Promise<void> {
    return this.view.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.view.stop();
    await this.writing;
  }

  private changed(o: Observation): void {
    this.changedAt = monotonicMs();
    this.desired = desiredFeatureState(o);
    this.kick();
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
    const desired = this.desired;
    if (!desired || sameDesired(this.written, desired)) return;
    const since = this.changedAt;
    try {
      const result = await writeFeatureState(this.db, this.opts.feature, desired);
      this.redisWrites++;
      this.lastLatencyMs = monotonicMs() - since;
      this.written = desired;
      this.retryDelay = 250;
      if (Object.keys(result.stateDb).length || result.configState) {
        this.log(`wrote STATE_DB ${JSON.stringify(result.stateDb)}${result.configState ? `, CONFIG_DB state=${result.configState}` : ''}`);
      }
      this.opts.onWrite?.(desired, this.lastLatencyMs);
    } catch (e) {
      // Redis unreachable: keep the desired state and try again with backoff.
      this.log(`redis write failed (retrying in ${this.retryDelay} ms): ${errorLine(e)}`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.kick(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxBackoffMs ?? 10_000);
    }
  }
}

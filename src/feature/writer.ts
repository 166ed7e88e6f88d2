// One feature's FEATURE writer: turns each fresh observation into the desired STATE_DB/CONFIG_DB
// fields and writes them, coalescing changes (only the newest desired state is written) and
// retrying with backoff while Redis is away. Every `resyncMs` it re-checks STATE_DB (never
// CONFIG_DB) so a Redis that came back empty is complete again within that time.
import { errorLine } from '../util/errors.js';
import { monotonicMs } from '../util/wait.js';
import { writeFeatureState, type FeatureDb, type WriteResult } from './db.js';
import { desiredFeatureState, type Desired, type Observation } from './state.js';

export interface WriterOptions {
  feature: string;
  log?: (line: string) => void;
  /** Called after each successful write (readiness, tests). */
  onWrite?: (desired: Desired, latencyMs: number) => void;
  maxBackoffMs?: number;
  /** STATE_DB re-check period; 0: never. */
  resyncMs?: number | undefined;
  /** Asked before every write: false once the feature is no longer this writer's to write. */
  active?: () => boolean;
  /** Called once per OOM kill, after STATE_DB counted it (the agent's syslog line). */
  onOomKill?: (oom: NonNullable<WriteResult['oomKill']>) => void;
}

export interface WriterStats {
  redisWrites: number;
  lastLatencyMs: number | undefined;
}

const sameDesired = (a: Desired | undefined, b: Desired) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

export class FeatureWriter {
  private redisWrites = 0;
  private lastLatencyMs: number | undefined;
  private desired: Desired | undefined;
  private written: Desired | undefined;
  private changedAt = monotonicMs();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryDelay = 250;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private resyncDue = false;

  constructor(
    private readonly db: FeatureDb,
    private readonly opts: WriterOptions,
  ) {
    if (opts.resyncMs) {
      this.resyncTimer = setInterval(() => {
        this.resyncDue = true;
        this.kick();
      }, opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  get stats(): WriterStats {
    return { redisWrites: this.redisWrites, lastLatencyMs: this.lastLatencyMs };
  }

  update(o: Observation): void {
    const next = desiredFeatureState(o);
    if (sameDesired(this.desired, next)) return;
    this.changedAt = monotonicMs();
    this.desired = next;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    await this.writing;
  }

  private log(line: string): void {
    this.opts.log?.(`[sync ${this.opts.feature}] ${line}`);
  }

  private kick(): void {
    if (this.stopped) return;
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
    if (!desired || this.opts.active?.() === false) return;
    const resync = this.resyncDue && sameDesired(this.written, desired);
    this.resyncDue = false;
    if (!resync && sameDesired(this.written, desired)) return;
    const since = this.changedAt;
    try {
      // A resync re-checks STATE_DB only: CONFIG_DB is mirrored once per change, never re-asserted
      // over what an operator may have written since.
      const result = await writeFeatureState(this.db, this.opts.feature, resync ? { ...desired, configState: undefined } : desired);
      if (resync && !Object.keys(result.stateDb).length) return;
      this.redisWrites++;
      this.lastLatencyMs = monotonicMs() - since;
      this.written = desired;
      this.retryDelay = 250;
      if (Object.keys(result.stateDb).length || result.configState) {
        const config = result.configState ? `, CONFIG_DB state=${result.configState}` : '';
        this.log(`${resync ? 'restored' : 'wrote'} STATE_DB ${JSON.stringify(result.stateDb)}${config}`);
      }
      if (result.oomKill) this.opts.onOomKill?.(result.oomKill);
      this.opts.onWrite?.(desired, this.lastLatencyMs);
    } catch (e) {
      // Redis unreachable: keep the desired state and try again with backoff.
      this.log(`redis write failed (retrying in ${this.retryDelay} ms): ${errorLine(e)}`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.resyncDue ||= resync;
        this.kick();
      }, this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxBackoffMs ?? 10_000);
    }
  }
}

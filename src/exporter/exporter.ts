// `kubesonic exporter`: the memory figures memory_checker computes (same code, same sources), for
// every configured feature on this node, plus FEATURE sync health, on /metrics for Prometheus.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { checkMemory, type CheckOutcome, type CheckerSettings } from '../memory/checker.js';
import type { CheckerOptions } from '../memory/args.js';
import type { FeatureDb } from '../feature/db.js';
import { NATIVE_STOPPED_FIELD, OOM_FIELDS } from '../feature/state.js';
import { MONIT_THRESHOLDS } from '../sonic/paths.js';
import { ExitError } from '../util/errors.js';

export interface ExportedFeature {
  feature: string;
  threshold: number;
}

export interface ExporterOptions {
  features: ExportedFeature[];
  namespace: string;
  node: string | undefined;
  kubeconfig: string | undefined;
  timeoutMs: number;
  /** Background collection period (ms, start to start; scrapes get the last one); 0: every scrape collects. */
  cacheMs: number;
  settings: CheckerSettings;
  /** STATE_DB, for the sync health series; undefined: not exported. */
  db?: FeatureDb | undefined;
}

/** One feature's check, gathered before anything is published. */
interface FeatureResult {
  f: ExportedFeature;
  /** undefined: the check ended in an error. */
  outcome: CheckOutcome | undefined;
  seconds: number;
  /** STATE_DB container_id; null: not read (no db, or Redis failed). */
  containerId: string | undefined | null;
  /** STATE_DB's counts (field → value; undefined: none recorded or not read). */
  counts: Record<string, number | undefined>;
}

/**
 * A STATE_DB count exported as a Prometheus counter: up by the difference; below the last one
 * (STATE_DB emptied): a counter reset.
 */
class StateDbCounter {
  private readonly counter: Counter;
  /** The count last exported per feature. */
  private readonly seen = new Map<string, number>();

  constructor(
    readonly field: string,
    name: string,
    help: string,
    registry: Registry,
  ) {
    this.counter = new Counter({ name, help, labelNames: ['feature'], registers: [registry] });
  }

  publish(feature: string, count: number | undefined): void {
    const labels = { feature };
    const last = this.seen.get(feature);
    const now = count ?? last ?? 0;
    if (last !== undefined && now < last) this.counter.remove(labels);
    this.counter.inc(labels, last !== undefined && now >= last ? now - last : now);
    this.seen.set(feature, now);
  }
}

export class MemoryExporter {
  readonly registry = new Registry();
  private readonly workingSet = new Gauge({
    name: 'kubesonic_feature_memory_working_set_bytes',
    help: 'Working set of the feature container (memory_checker definition)',
    labelNames: ['feature', 'source', 'via'],
    registers: [this.registry],
  });
  private readonly threshold = new Gauge({
    name: 'kubesonic_feature_memory_threshold_bytes',
    help: 'memory_checker threshold of the feature (monit stanza)',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly over = new Gauge({
    name: 'kubesonic_feature_memory_over_threshold',
    help: '1 when memory_checker would exit 3 for the feature',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly running = new Gauge({
    name: 'kubesonic_feature_running',
    help: '1 when the feature container runs on this node',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'kubesonic_memory_check_errors_total',
    help: 'Checks that ended in an internal error or unreadable value',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly syncPresent = new Gauge({
    name: 'kubesonic_feature_state_db_container_present',
    help: '1 when STATE_DB FEATURE|<f> container_id is non-empty (what container_checker counts)',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly syncConsistent = new Gauge({
    name: 'kubesonic_feature_sync_consistent',
    help: '1 when STATE_DB agrees with what runs (sidecar sync healthy)',
    labelNames: ['feature'],
    registers: [this.registry],
  });
  private readonly checkSeconds = new Gauge({
    name: 'kubesonic_memory_check_duration_seconds',
    help: 'Time the last check of the feature took',
    labelNames: ['feature'],
    registers: [this.registry],
  });

  private readonly stateCounters = [
    new StateDbCounter(
      OOM_FIELDS.count,
      'kubesonic_feature_oom_kills_total',
      'OOM kills of the feature container on this node, as the node agent counted them in STATE_DB FEATURE|<f> oom_kill_count',
      this.registry,
    ),
    new StateDbCounter(
      NATIVE_STOPPED_FIELD,
      'kubesonic_feature_native_stopped_total',
      "Native containers of a migrated feature started behind its pod's back and stopped by the unit, as counted in STATE_DB FEATURE|<f> native_stopped_count",
      this.registry,
    ),
  ];

  /** The collection running now: the background loop and every scrape share it (one at a time). */
  private inFlight: Promise<void> | undefined;
  /** The exposition text of the last completed collection; undefined until the first one ends. */
  private body: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly opts: ExporterOptions,
    /** The check of one feature: memory_checker's (tests hand in their own). */
    private readonly check: (options: CheckerOptions, settings: CheckerSettings) => Promise<CheckOutcome> = checkMemory,
  ) {}

  /**
   * Collect in the background: one collection now, then one every cacheMs (start to start; at once
   * after a collection that took longer). A scrape is answered from the last completed collection
   * and never waits for the API server; that collection ended at most cacheMs plus one collection
   * before the scrape, as --cache-ms promises. cacheMs 0: nothing runs in the background.
   */
  start(): void {
    if (this.opts.cacheMs === 0 || this.timer || this.stopped) return;
    const tick = () => {
      const started = performance.now();
      void this.collectShared().then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, Math.max(0, this.opts.cacheMs - (performance.now() - started)));
      });
    };
    tick();
  }

  /** No collection starts after this; one in flight ends on its own (idle() waits for it). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * The text a scrape gets: the last completed collection's; before the first one has ended, or
   * with cacheMs 0, the one in flight (started for this scrape if none is), shared by every
   * scrape that arrives meanwhile.
   */
  async scrape(): Promise<string> {
    if (this.opts.cacheMs === 0 || this.body === undefined) await this.collectShared();
    return this.body ?? '';
  }

  /** Resolves once no collection is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** The collection in flight, or a new one: never two at once, whoever asks. */
  private collectShared(): Promise<void> {
    this.inFlight ??= this.collect().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Check every feature, CHECKS_AT_ONCE at a time, each with its own connections, then publish all
   * at once. The checks start one per turn of the event loop, so the HTTP server answers a scrape
   * between any two: started all at once, the checks' synchronous parts (credentials, TLS set-up,
   * JSON) ran back to back and held scrapes for tens of ms (bench/results.md, p99).
   */
  async collect(): Promise<void> {
    const { features } = this.opts;
    const results: FeatureResult[] = [];
    let next = 0;
    // One chain for all workers: each start waits for the turn after the previous start's.
    let turn = Promise.resolve();
    const worker = async () => {
      for (let i = next++; i < features.length; i = next++) {
        turn = turn.then(nextTurn);
        await turn;
        results[i] = await this.checkOne(features[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECKS_AT_ONCE, features.length) }, worker));
    // Applied in one synchronous step: a scrape never sees some features' new figures and others' old.
    this.workingSet.reset();
    for (const r of results) this.publish(r);
    // Rendered once per collection, not per scrape: a scrape only writes this text.
    this.body = await this.registry.metrics();
  }

  private async checkOne(f: ExportedFeature): Promise<FeatureResult> {
    const options: CheckerOptions = {
      container: f.feature,
      threshold: f.threshold,
      json: false,
      namespace: this.opts.namespace,
      node: this.opts.node,
      source: 'auto',
      timeoutMs: this.opts.timeoutMs,
      kubeconfig: this.opts.kubeconfig,
    };
    const started = process.hrtime.bigint();
    let outcome: CheckOutcome | undefined;
    try {
      outcome = await this.check(options, this.opts.settings);
    } catch {
      outcome = undefined;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let containerId: string | undefined | null = null;
    const counts: Record<string, number | undefined> = {};
    if (this.opts.db) {
      try {
        const state = await this.opts.db.read('state', f.feature);
        containerId = state.container_id;
        for (const c of this.stateCounters) {
          const n = Number.parseInt(state[c.field] ?? '', 10);
          counts[c.field] = Number.isSafeInteger(n) && n >= 0 ? n : undefined;
        }
      } catch {
        containerId = null;
      }
    }
    return { f, outcome, seconds, containerId, counts };
  }

  private publish({ f, outcome, seconds, containerId, counts }: FeatureResult): void {
    const feature = { feature: f.feature };
    // Redis unreadable: keep the last counts (a counter never goes down for missing information).
    if (this.opts.db && containerId !== null) for (const c of this.stateCounters) c.publish(f.feature, counts[c.field]);
    this.threshold.set(feature, f.threshold);
    this.checkSeconds.set(feature, seconds);
    const isRunning = outcome ? outcome.status === 'measured' : undefined;
    if (!outcome) {
      // No figure is better than a stale one: drop the series until a check succeeds again.
      this.errors.inc(feature);
      this.over.remove(feature);
      this.running.remove(feature);
    } else {
      this.running.set(feature, isRunning ? 1 : 0);
      if (outcome.status === 'measured') {
        this.workingSet.set({ feature: f.feature, source: outcome.source, via: outcome.via }, outcome.usage);
        this.over.set(feature, outcome.usage > f.threshold ? 1 : 0);
      } else this.over.set(feature, 0);
    }
    if (!this.opts.db) return;
    if (containerId === null) {
      this.syncPresent.remove(feature);
      return;
    }
    const present = Boolean(containerId);
    this.syncPresent.set(feature, present ? 1 : 0);
    if (isRunning !== undefined) this.syncConsistent.set(feature, present === isRunning ? 1 : 0);
  }

  listen(host: string, port: number): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
        return;
      }
      this.scrape()
        .then((body) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(body))
        .catch((e: unknown) => res.writeHead(500).end(`${String(e)}\n`));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

/**
 * Checks in flight at once in a collection: few enough that their callbacks do not queue up in
 * front of a scrape, enough that a collection of 20 features against an API server that hangs
 * ends within 5 timeouts (the checks' own budget), not 20.
 */
export const CHECKS_AT_ONCE = 4;

/**
 * Resolves in the check phase of the event loop; called from there, in the next turn's. Either way
 * the poll phase, where a scrape's request is read and answered, runs in between.
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A scrape every second or faster (Prometheus' shortest usual interval) runs at most one collection a second. */
export const DEFAULT_CACHE_MS = 1000;

/** --cache-ms: a whole number of ms, 0 or more; anything else is a one-line error (exit 2). */
export function parseCacheMs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ExitError(`--cache-ms must be a whole number of milliseconds, got ${JSON.stringify(value)}`, 2);
  return value;
}

/** "bmp=838860800" or "bmp" (threshold from the monit default of that feature). */
export function parseFeatureArg(arg: string): ExportedFeature {
  const [feature, raw] = arg.split('=');
  if (!feature || !/^[a-z][a-z0-9_-]{0,31}$/.test(feature)) throw new ExitError(`invalid feature ${JSON.stringify(arg)}`, 2);
  const threshold = raw === undefined ? MONIT_THRESHOLDS[feature] : /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!threshold || !Number.isSafeInteger(threshold))
    throw new ExitError(`feature ${feature}: give a threshold in bytes (${feature}=<bytes>)`, 2);
  return { feature, threshold };
}

/** Serve /metrics on host:port until `stop` fires. */
export async function runExporter(opts: ExporterOptions, listen: string, out: (line: string) => void, stop: AbortSignal): Promise<void> {
  const m = /^(.*):([0-9]+)$/.exec(listen);
  if (!m) throw new Error(`--listen must be host:port, got ${listen}`);
  const exporter = new MemoryExporter(opts);
  const server = await exporter.listen(m[1]!, Number(m[2]));
  exporter.start();
  out(`kubesonic exporter on http://${listen}/metrics for ${opts.features.map((f) => f.feature).join(', ')}`);
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
  exporter.stop();
  server.close();
  await exporter.idle();
  opts.db?.close();
}

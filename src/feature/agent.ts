// The node agent: one process per node that keeps, for every migrated feature on the node,
//   - FEATURE in CONFIG_DB/STATE_DB (feature/writer.ts, one writer per feature),
//   - the unit state file the unit's ExecStart reads (feature/unit-state.ts),
//   - the host side in the migration version's shape:
//       v0  no drop-in: the image's unit runs the native container again
//       v1  the stub drop-in (re-asserted every hostIntervalMs)
//       v2  the same drop-in here; the unit's start (on the host) removes the native container
// all from one list+watch of the node's kubesonic pods and one of the node, so API load does not
// grow with the number of features. The same code runs as the per-feature sidecar (the seed's
// shape): then it watches one feature's pods only.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Syslog } from '../host/syslog.js';
import { applyHostFiles, requestReload } from '../host/files.js';
import { isHeld, isNativeMarked } from '../host/hold.js';
import { isMigrated, migratedFeatures } from '../host/records.js';
import type { ClusterReader } from '../kube/cluster.js';
import { VERSION_ANNOTATION } from '../kube/ids.js';
import { HOLD_DIR, RELOAD_REQUEST, VERSIONS, type MigrationVersion } from '../sonic/paths.js';
import { featurePlan } from '../systemd/unit.js';
import { errorLine } from '../util/errors.js';
import type { FeatureDb, WriteResult } from './db.js';
import { disableReasonOf, readUnitState, unitStateOf, writeUnitState } from './unit-state.js';
import { NodeView, observe, type NodeSnapshot } from './view.js';
import { FeatureWriter } from './writer.js';

export interface AgentOptions {
  namespace: string;
  node: string;
  /**
   * The per-feature sidecar's one feature: served always. undefined (the agent): the features
   * migrated on this node are served — those with an active record (host/records.ts) — and no other,
   * so a pod waiting in its wrapper next to a native container never changes FEATURE.
   */
  only: string | undefined;
  /** Which pods to watch: every kubesonic pod (the agent) or one feature's (the sidecar). */
  labelSelector: string;
  /** The version for pods that carry no version annotation (the sidecar's own, from its env). */
  defaultVersion: MigrationVersion | undefined;
  /** Where the host's files are mounted (records, drop-ins); '' leaves host files alone. */
  hostRoot: string;
  /** Where the unit state files go; '' writes none. */
  unitStateDir: string;
  hostIntervalMs: number;
  /** Written after the first successful FEATURE write (the container's readiness probe). */
  readyFile: string;
  log: (line: string) => void;
  maxBackoffMs?: number;
  resyncMs?: number;
  /** How often the host-side holds are looked at (a hold changes no pod status until the runtime acts). */
  holdPollMs?: number;
}

export interface AgentPorts {
  cluster: ClusterReader;
  db: FeatureDb;
  /** The switch's syslog (the host's /dev/log, mounted): one line per OOM kill. */
  syslog?: Syslog | undefined;
}

/**
 * The syslog line of one OOM kill (tag kubesonic-agent, priority err). No restart count: the status
 * that shows a kill may come before or after the kubelet counted the restart.
 */
export function oomKillLine(feature: string, oom: NonNullable<WriteResult['oomKill']>): string {
  const { kill, count } = oom;
  const limit = kill.limit ? `, memory limit ${kill.limit}` : '';
  return `Container '${feature}' was OOM-killed (pod ${kill.pod}, container ${kill.id}${limit}); ${count} OOM kill(s) of ${feature} on this node`;
}

export interface AgentStats {
  apiRequests: number;
  redisWrites: number;
  lastLatencyMs: number | undefined;
  fresh: boolean;
  features: string[];
}

/** The feature a pod runs (its app label), and the version its host side follows. */
function featureOf(pod: V1Pod): string | undefined {
  return pod.metadata?.labels?.app;
}

function versionOf(pods: readonly V1Pod[], fallback: MigrationVersion | undefined): MigrationVersion | undefined {
  for (const p of pods) {
    const v = p.metadata?.annotations?.[VERSION_ANNOTATION];
    if (v && (VERSIONS as readonly string[]).includes(v)) return v as MigrationVersion;
  }
  return pods.length ? fallback : undefined;
}

/**
 * One pass over the host for one feature: the version's drop-in. Only a drop-in directory that is
 * mounted is touched: the pod sees no other unit. v2's removal of the native container is the host
 * side's (`kubesonic systemd <f> start`, pod/verbs.ts): no pod mounts Docker.
 */
export function reconcileHost(feature: string, version: MigrationVersion, hostRoot: string, log: (l: string) => void): void {
  const plan = featurePlan(feature, version);
  const dir = join(hostRoot, dirname(plan[0]!.path));
  if (!existsSync(dir)) {
    log(`[host ${feature}] ${dir} is not mounted here: leaving the unit alone`);
  } else {
    try {
      const r = applyHostFiles(plan, hostRoot);
      for (const b of r.backups) log(`[host ${feature}] backed up ${b}`);
      if (r.changed.length) {
        log(`[host ${feature}] ${version}: updated ${r.changed.join(', ')}; requesting daemon-reload`);
        requestReload(hostRoot, RELOAD_REQUEST);
      }
    } catch (e) {
      log(`[host ${feature}] could not reconcile host files: ${errorLine(e)}`);
    }
  }
}

export class NodeAgent {
  private readonly view: NodeView;
  private readonly writers = new Map<string, FeatureWriter>();
  private readonly versions = new Map<string, MigrationVersion>();
  /** Per feature: was the operator's disable taint on the node at the last fresh snapshot? */
  private readonly lastDisabled = new Map<string, boolean>();
  /** Features whose disable taint an operator took off, until CONFIG_DB says enabled. */
  private readonly enableIntent = new Set<string>();
  private hostTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private last: NodeSnapshot | undefined;
  private heldSeen = '';
  private ready = false;

  constructor(
    private readonly ports: AgentPorts,
    private readonly opts: AgentOptions,
  ) {
    const target = { namespace: opts.namespace, node: opts.node, labelSelector: opts.labelSelector };
    this.view = new NodeView(ports.cluster, target, (s) => this.changed(s), opts.log, opts.maxBackoffMs);
  }

  get stats(): AgentStats {
    let redisWrites = 0;
    let lastLatencyMs: number | undefined;
    for (const w of this.writers.values()) {
      redisWrites += w.stats.redisWrites;
      lastLatencyMs = w.stats.lastLatencyMs ?? lastLatencyMs;
    }
    return { apiRequests: this.view.apiRequests, redisWrites, lastLatencyMs, fresh: this.view.fresh, features: [...this.writers.keys()] };
  }

  async start(): Promise<void> {
    await this.view.start();
    if (this.opts.hostRoot) {
      this.hostTimer = setInterval(() => this.reassertHost(), this.opts.hostIntervalMs);
      // `systemctl start` takes the hold off (the unit's shell the native marker) while the container
      // keeps running (its shell execs the daemon): no pod event follows, so the holds and markers
      // are looked at on their own (a few stat calls).
      this.holdTimer = setInterval(() => this.holdsChanged(), this.opts.holdPollMs ?? 2000);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.hostTimer);
    clearInterval(this.holdTimer);
    this.view.stop();
    await Promise.all([...this.writers.values()].map((w) => w.stop()));
  }

  private writer(feature: string): FeatureWriter {
    let w = this.writers.get(feature);
    if (!w) {
      w = new FeatureWriter(this.ports.db, {
        feature,
        active: () => this.serves(feature),
        log: this.opts.log,
        maxBackoffMs: this.opts.maxBackoffMs,
        resyncMs: this.opts.resyncMs,
        onWrite: (desired) => {
          if (desired.configState === 'enabled') this.enableIntent.delete(feature);
          this.markReady();
        },
        // Counted in STATE_DB first, so a kill reaches syslog once even if the agent restarts here.
        onOomKill: (oom) => this.oomKilled(feature, oom),
      });
      this.writers.set(feature, w);
    }
    return w;
  }

  private oomKilled(feature: string, oom: NonNullable<WriteResult['oomKill']>): void {
    const line = oomKillLine(feature, oom);
    this.opts.log(`[oom ${feature}] ${line}`);
    const syslog = this.ports.syslog;
    if (!syslog) return;
    syslog.log('err', line);
    syslog.flush().catch((e: unknown) => this.opts.log(`[oom ${feature}] syslog: ${errorLine(e)}`));
  }

  private serves(feature: string): boolean {
    return this.opts.only === feature || (!this.opts.only && isMigrated(this.opts.hostRoot, feature));
  }

  private markReady(): void {
    if (this.ready) return;
    this.ready = true;
    writeFileSync(this.opts.readyFile, `${new Date().toISOString()}\n`);
  }

  /** The feature's host-side hold; undefined where this process sees no host files. */
  private held(feature: string): boolean | undefined {
    return this.opts.hostRoot === '' ? undefined : isHeld(join(this.opts.hostRoot, HOLD_DIR), feature);
  }

  /** The feature's native marker (a native container may run; the pod's container waits); false where no host files are seen. */
  private nativeMarked(feature: string): boolean {
    return this.opts.hostRoot !== '' && isNativeMarked(join(this.opts.hostRoot, HOLD_DIR), feature);
  }

  /** The host files the observation depends on, as one comparable string. */
  private holdsOf(features: readonly string[]): string {
    return features.map((f) => `${f}:${this.held(f) ? 'h' : ''}${this.nativeMarked(f) ? 'n' : ''}`).join(',');
  }

  private holdsChanged(): void {
    if (!this.last) return;
    const features = this.opts.only ? [this.opts.only] : migratedFeatures(this.opts.hostRoot);
    if (this.holdsOf(features) !== this.heldSeen) this.changed(this.last);
  }

  private changed(s: NodeSnapshot): void {
    this.last = s;
    const features = this.opts.only ? [this.opts.only] : migratedFeatures(this.opts.hostRoot);
    for (const [f, w] of this.writers) {
      if (features.includes(f)) continue;
      // Rolled back on this node: stop at once, write nothing more.
      this.writers.delete(f);
      this.versions.delete(f);
      this.lastDisabled.delete(f);
      this.enableIntent.delete(f);
      void w.stop();
    }
    for (const f of features) {
      const seen = observe(f, s.pods, s.node, this.held(f), this.nativeMarked(f));
      // An enable is an edge: the disable taint seen, then gone. A first snapshot (after a restart
      // of the agent) has no edge, so CONFIG_DB is never written from a level it cannot explain.
      // Across its own restarts the writer remembers an operator's disable in the unit state file.
      if (!this.lastDisabled.has(f) && this.opts.unitStateDir)
        this.lastDisabled.set(f, readUnitState(this.opts.unitStateDir, f)?.reason === 'operator');
      if (this.lastDisabled.get(f) === true && !seen.disabledByTaint) this.enableIntent.add(f);
      if (seen.disabledByTaint) this.enableIntent.delete(f);
      this.lastDisabled.set(f, seen.disabledByTaint);
      const o = { ...seen, enabledByOperator: this.enableIntent.has(f) };
      this.writer(f).update(o);
      if (this.opts.unitStateDir) {
        try {
          writeUnitState(this.opts.unitStateDir, f, unitStateOf(o), new Date(), disableReasonOf(o));
        } catch (e) {
          this.opts.log(`[unit ${f}] could not write the unit state: ${errorLine(e)}`);
        }
      }
      const version = versionOf(
        s.pods.filter((p) => featureOf(p) === f),
        this.opts.defaultVersion,
      );
      // No pod: nothing says which version the host should follow; leave it as it is.
      if (version && this.opts.hostRoot && this.versions.get(f) !== version) {
        this.versions.set(f, version);
        reconcileHost(f, version, this.opts.hostRoot, this.opts.log);
      }
    }
    this.heldSeen = this.holdsOf(features);
  }

  private reassertHost(): void {
    for (const [f, version] of this.versions) reconcileHost(f, version, this.opts.hostRoot, this.opts.log);
  }
}

/** Runs the agent until `stop` fires; resolves once the last state is written. */
export async function runAgent(opts: AgentOptions, ports: AgentPorts, stop: AbortSignal): Promise<void> {
  const agent = new NodeAgent(ports, opts);
  const shape = opts.only
    ? `${opts.only} only`
    : `the features migrated on this node (${migratedFeatures(opts.hostRoot).join(', ') || 'none yet'})`;
  opts.log(`[agent] node ${opts.node}, namespace ${opts.namespace}, pods ${opts.labelSelector}, serving ${shape}`);
  await agent.start();
  // `kill -USR2` prints the counters (API requests, Redis writes, last change-to-write latency).
  const printStats = () => opts.log(`[agent] stats ${JSON.stringify(agent.stats)}`);
  process.on('SIGUSR2', printStats);
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));
  // The pod is going away: give the watch a moment to report it and the writers to flush.
  await new Promise((r) => setTimeout(r, 2000));
  process.off('SIGUSR2', printStats);
  await agent.stop();
}

// `kubesonic sync <feature>`: the sidecar in the feature's pod. It mirrors the pod's state on this
// node into FEATURE (feature/sync.ts) and keeps the host in the migration version's shape:
//   v0  no drop-in: the image's unit runs the native container again
//   v1  the stub drop-in (re-asserted every hostIntervalMs)
//   v2  v1, and no native container named like the feature left behind
import { writeFileSync } from 'node:fs';
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import type { Docker } from '../host/docker.js';
import { applyHostFiles, requestReload } from '../host/files.js';
import { featurePlan } from '../systemd/unit.js';
import { RELOAD_REQUEST, type MigrationVersion } from '../sonic/paths.js';
import { errorLine } from '../util/errors.js';
import type { FeatureDb } from './db.js';
import { FeatureSync } from './sync.js';

export interface SidecarOptions extends FeatureTarget {
  version: MigrationVersion;
  /** Where the host's files are mounted; '' leaves host files alone. */
  hostRoot: string;
  hostIntervalMs: number;
  /** Written after the first successful FEATURE write (the container's readiness probe). */
  readyFile: string;
  log: (line: string) => void;
}

export interface SidecarPorts {
  cluster: Cluster;
  db: FeatureDb;
  docker: Docker;
}

/** One pass over the host: the version's files, then (v2) the native container. */
export async function reconcileHost(opts: SidecarOptions, docker: Docker): Promise<void> {
  const { feature, version, hostRoot, log } = opts;
  try {
    const r = applyHostFiles(featurePlan(feature, version), hostRoot);
    for (const b of r.backups) log(`[host ${feature}] backed up ${b}`);
    if (r.changed.length) {
      log(`[host ${feature}] ${version}: updated ${r.changed.join(', ')}; requesting daemon-reload`);
      requestReload(hostRoot, RELOAD_REQUEST);
    }
  } catch (e) {
    log(`[host ${feature}] could not reconcile host files: ${errorLine(e)}`);
  }
  if (version !== 'v2') return;
  try {
    if (await docker.removeNative(feature, Date.now() + 10_000)) log(`[host ${feature}] v2: removed the native container ${feature}`);
  } catch (e) {
    log(`[host ${feature}] v2 clean-up skipped: ${errorLine(e)}`);
  }
}

/** Runs until `stopSignal` fires; resolves once the last state is written. */
export async function runSidecar(opts: SidecarOptions, ports: SidecarPorts, stopSignal: AbortSignal): Promise<void> {
  const { feature, log } = opts;
  let hostTimer: NodeJS.Timeout | undefined;
  if (opts.hostRoot) {
    await reconcileHost(opts, ports.docker);
    hostTimer = setInterval(() => void reconcileHost(opts, ports.docker), opts.hostIntervalMs);
  }
  let ready = false;
  const sync = new FeatureSync(ports.cluster, ports.db, {
    feature,
    namespace: opts.namespace,
    node: opts.node,
    log,
    onWrite: () => {
      if (ready) return;
      ready = true;
      writeFileSync(opts.readyFile, `${new Date().toISOString()}\n`);
    },
  });
  log(`[sync ${feature}] node ${opts.node}, namespace ${opts.namespace}, ${opts.version}`);
  await sync.start();
  // `kill -USR2` prints the counters (API requests, Redis writes, last change-to-write latency).
  const printStats = () => log(`[sync ${feature}] stats ${JSON.stringify(sync.stats)}`);
  process.on('SIGUSR2', printStats);
  if (!stopSignal.aborted) await new Promise((resolve) => stopSignal.addEventListener('abort', resolve, { once: true }));
  // The pod is going away: give the watch a moment to report it and the writer to flush.
  await new Promise((r) => setTimeout(r, 2000));
  process.off('SIGUSR2', printStats);
  clearInterval(hostTimer);
  await sync.stop();
}

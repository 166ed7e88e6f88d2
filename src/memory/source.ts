// The vocabulary of memory_checker: what a check ends in, and the interface every place a figure
// can come from implements. The checker (checker.ts) walks the sources in order.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckerOptions, SourceChoice } from './args.js';
import { CheckError } from './errors.js';
import { detectCgroupFs, memoryCgroupFromProc, readWorkingSet, type CgroupFs } from './cgroup.js';
import type { Docker } from '../host/docker.js';
import { ApiConnections } from '../kube/http.js';
import { fileSessionStore } from '../kube/tls-sessions.js';
import type { ApiSources, Settings } from '../settings.js';

export type MeasurementSource = 'metrics.k8s.io' | 'cgroup';

export interface Measurement {
  status: 'measured';
  container: string;
  usage: number;
  source: MeasurementSource;
  /** How the container was found: kube (API), containerd (local state), docker (native or cri-dockerd). */
  via: 'kube' | 'containerd' | 'docker';
  pod?: string | undefined;
  cgroup?: string | undefined;
  notes: string[];
  /** What the operator should fix although the check could answer (memory_checker prints each on stderr). */
  warnings?: string[];
  /** Requests the check sent to the API server (checker.ts sets it on the outcome it returns). */
  apiRequests?: number;
  /** Of its connections, how many resumed an earlier TLS session (no full handshake). */
  tlsResumed?: number;
}

export interface NotRunning {
  status: 'not-running';
  container: string;
  notes: string[];
  warnings?: string[];
  apiRequests?: number;
  tlsResumed?: number;
}

export type CheckOutcome = Measurement | NotRunning;

/** The host roots memory_checker reads (tests point them at fixtures). */
export type HostPaths = Pick<Settings, 'cgroupRoot' | 'procRoot' | 'containerdState' | 'dockerSocket'>;

/** Everything a check needs from the environment: host paths, API credentials' sources, this node. */
export type CheckerSettings = HostPaths & { api: ApiSources; nodeName: string; tlsSessionDir?: string | undefined };

/**
 * The share of the time budget the API server may use when local sources still follow it. A silent
 * API server (connections accepted, never answered) used to spend the whole budget, so the Docker
 * step found no time left and a native container went unchecked. 60 % of the default 1.8 s is
 * 1.08 s for the API server — 14× the 78 ms a metrics-path check takes on the testbed — and leaves
 * at least 0.72 s for containerd's files and the Docker socket, which answer in milliseconds.
 */
export const KUBE_SHARE = 0.6;

/** Absolute deadlines (Date.now() ms) of one check: the API server's, and the whole check's. */
export interface Budget {
  kube: number;
  total: number;
}

/**
 * Split a check's budget. `--source kube` has nothing after the API server, so it gets it all;
 * otherwise (auto, cgroup) the API server stops at its share and the local steps have the rest,
 * plus whatever the API server did not use.
 */
export function splitBudget(startMs: number, totalMs: number, choice: SourceChoice): Budget {
  const total = startMs + totalMs;
  return { kube: choice === 'kube' ? total : startMs + Math.floor(totalMs * KUBE_SHARE), total };
}

/** One check in progress: its options, deadlines, notes, and what the sources before learned. */
export class SourceContext {
  readonly notes: string[] = [];
  readonly warnings: string[] = [];
  /** Set by the kube source once the API server answered: the local kube sources then add nothing. */
  apiReachable = false;
  /** This check's own API connections, closed when it ends (never another check's). */
  readonly connections: ApiConnections;
  private cgroupFs: CgroupFs | undefined | null = null;

  constructor(
    readonly opts: CheckerOptions,
    readonly settings: CheckerSettings,
    readonly docker: Docker,
    readonly budget: Budget,
  ) {
    this.connections = new ApiConnections(fileSessionStore(settings.tlsSessionDir, process.geteuid?.() ?? -1));
  }

  /** The whole check's deadline: what the local steps (containerd's files, Docker) may use. */
  get deadline(): number {
    return this.budget.total;
  }

  /** The API server's deadline: its share, so it can never starve the steps after it. */
  get kubeDeadline(): number {
    return this.budget.kube;
  }

  get node(): string {
    return (this.opts.node || this.settings.nodeName).toLowerCase();
  }

  /** --source auto or cgroup, and the API did not answer: find Kubernetes containers locally. */
  get localKube(): boolean {
    return !this.apiReachable && (this.opts.source === 'auto' || this.opts.source === 'cgroup');
  }

  async fs(): Promise<CgroupFs> {
    if (this.cgroupFs === null) this.cgroupFs = await detectCgroupFs(this.settings.cgroupRoot);
    if (!this.cgroupFs) throw new CheckError(1, `no memory cgroup hierarchy under ${this.settings.cgroupRoot}`);
    return this.cgroupFs;
  }

  measured(usage: number, source: MeasurementSource, via: Measurement['via'], extra: Partial<Measurement> = {}): Measurement {
    return { status: 'measured', container: this.opts.container, usage, source, via, notes: this.notes, ...this.warned(), ...extra };
  }

  notRunning(): NotRunning {
    return { status: 'not-running', container: this.opts.container, notes: this.notes, ...this.warned() };
  }

  /** A problem the check works around (it goes on without that source), noted and kept for stderr. */
  warn(line: string): void {
    this.notes.push(line);
    this.warnings.push(line);
  }

  private warned(): { warnings?: string[] } {
    return this.warnings.length ? { warnings: this.warnings } : {};
  }

  /** undefined: the cgroup vanished while being read (the container stopped or restarted meanwhile). */
  async readOrGone(dir: string): Promise<number | undefined> {
    const fs = await this.fs();
    try {
      return await readWorkingSet(fs, dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // A cgroup that is still there but has no memory controller has no memory.* files either:
      // a misconfigured host (exit 1), not a container that went away.
      const controllers = await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => undefined);
      if (fs.version === 'v2' && controllers !== undefined && !controllers.split(/\s+/).includes('memory')) {
        throw new CheckError(1, `${dir}: memory controller not enabled for this cgroup (no memory.current)`);
      }
      this.notes.push(`cgroup ${dir} went away while being read: container stopped or restarted`);
      return undefined;
    }
  }

  /** Is the process still in a cgroup of this container? false: it stopped (its pid maybe reused). */
  async stillInContainer(pid: number | undefined, containerId: string): Promise<boolean> {
    if (!pid) return false;
    try {
      const procCgroup = await readFile(join(this.settings.procRoot, String(pid), 'cgroup'), 'utf8');
      return memoryCgroupFromProc(procCgroup, (await this.fs()).version)?.includes(containerId) === true;
    } catch {
      return false;
    }
  }

  /** The larger of several measurements (two pods of one feature on a node only happen mid-rollout). */
  largest(results: Measurement[]): Measurement | undefined {
    return [...results].sort((a, b) => b.usage - a.usage)[0];
  }
}

export interface MemorySource {
  readonly name: string;
  /** Whether this source takes part, given --source and what the sources before it learned. */
  applies(ctx: SourceContext): boolean;
  /** An outcome ends the check; undefined hands over to the next source. */
  find(ctx: SourceContext): Promise<CheckOutcome | undefined>;
}

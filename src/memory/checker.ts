// Decides where a feature's memory figure comes from and reads it.
//   1. Kubernetes: the feature's pod on this node; working set from metrics.k8s.io, else from the
//      pod's cgroup (container id from the pod status).
//   2. API server unreachable: the container found locally (containerd task state, or cri-dockerd
//      labels), read from its cgroup.
//   3. Not migrated: the Docker container named exactly like the feature, read from its cgroup.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { CheckerOptions } from './args.js';
import { CheckError } from './errors.js';
import {
  type CgroupFs,
  cgroupDir,
  detectCgroupFs,
  dockerCgroupCandidates,
  findCgroupDir,
  kubeCgroupCandidates,
  memoryCgroupFromProc,
  readWorkingSet,
} from './cgroup.js';
import { type FeaturePod, listFeaturePods, podWorkingSet } from './sources/kube.js';
import { DEFAULT_CONTAINERD_STATE, findLocalKubeContainers } from './sources/containerd.js';
import { ApiError, closeConnections } from '../kube/http.js';
import { loadCredentials, type ApiCredentials } from '../kube/kubeconfig.js';
import { DockerUnavailable, dockerSocket, findByExactName, findKubeContainer, inspectPid, listRunning, type DockerContainer } from '../docker/api.js';

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
}

export interface NotRunning {
  status: 'not-running';
  container: string;
  notes: string[];
}

export type CheckOutcome = Measurement | NotRunning;

export interface HostPaths {
  cgroupRoot: string;
  procRoot: string;
  containerdState: string;
  dockerSocket: string;
}

export function hostPathsFromEnv(env: Readonly<Record<string, string | undefined>>): HostPaths {
  return {
    cgroupRoot: env.KUBESONIC_CGROUP_ROOT || '/sys/fs/cgroup',
    procRoot: env.KUBESONIC_PROC_ROOT || '/proc',
    containerdState: env.KUBESONIC_CONTAINERD_STATE || DEFAULT_CONTAINERD_STATE,
    dockerSocket: dockerSocket(env),
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

class Checker {
  readonly notes: string[] = [];
  private cgroupFs: CgroupFs | undefined | null = null;

  constructor(
    readonly opts: CheckerOptions,
    readonly paths: HostPaths,
    readonly env: Readonly<Record<string, string | undefined>>,
    readonly deadline: number,
  ) {}

  private async fs(): Promise<CgroupFs> {
    if (this.cgroupFs === null) this.cgroupFs = await detectCgroupFs(this.paths.cgroupRoot);
    if (!this.cgroupFs) throw new CheckError(1, `no memory cgroup hierarchy under ${this.paths.cgroupRoot}`);
    return this.cgroupFs;
  }

  private measured(usage: number, source: MeasurementSource, via: Measurement['via'], extra: Partial<Measurement> = {}): Measurement {
    return { status: 'measured', container: this.opts.container, usage, source, via, notes: this.notes, ...extra };
  }

  private notRunning(): NotRunning {
    return { status: 'not-running', container: this.opts.container, notes: this.notes };
  }

  async run(): Promise<CheckOutcome> {
    const { source } = this.opts;
    let apiReachable = false;
    if (source !== 'docker') {
      const kube = await this.fromKube();
      if (kube.outcome) return kube.outcome;
      apiReachable = kube.apiReachable;
      if (source === 'kube') throw new CheckError(1, `kubernetes source failed: ${this.notes.join('; ')}`);
    }
    const localKube = !apiReachable && (source === 'auto' || source === 'cgroup');
    if (localKube) {
      const local = await this.fromLocalKube();
      if (local) return local;
    }
    const docker = await this.dockerList();
    // No Docker API answering (SONiC's checker: docker not active) means nothing native to check.
    if (!docker) return this.notRunning();
    const viaLabels = localKube ? findKubeContainer(docker, this.opts.container, this.opts.namespace) : undefined;
    if (viaLabels) return this.fromDockerContainer(viaLabels);
    const native = findByExactName(docker, this.opts.container);
    if (!native) {
      this.notes.push(`docker: no running container named ${this.opts.container}`);
      return this.notRunning();
    }
    return this.fromDockerContainer(native);
  }

  private node(): string {
    return (this.opts.node || hostname()).toLowerCase();
  }

  private async fromKube(): Promise<{ outcome?: CheckOutcome; apiReachable: boolean }> {
    let creds: ApiCredentials | undefined;
    try {
      creds = loadCredentials(this.opts.kubeconfig, this.env);
    } catch (e) {
      if (this.opts.kubeconfig) throw new CheckError(1, errorText(e));
      this.notes.push(`kube: ${errorText(e)}`);
      return { apiReachable: false };
    }
    if (!creds) {
      this.notes.push('kube: no credentials');
      return { apiReachable: false };
    }
    let pods: FeaturePod[];
    try {
      pods = await listFeaturePods(creds, this.opts.namespace, this.node(), this.opts.container, this.deadline);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      this.notes.push(`kube: pod list: ${e.message}`);
      return { apiReachable: false };
    }
    if (pods.length === 0) {
      this.notes.push(`kube: no pod with container ${this.opts.container} on node ${this.node()}`);
      return { apiReachable: true };
    }
    const running = pods.filter((p) => p.running);
    if (running.length === 0) {
      this.notes.push(`kube: container ${this.opts.container} is not running in ${pods.map((p) => p.name).join(', ')}`);
      return { outcome: this.notRunning(), apiReachable: true };
    }
    // Two running pods of one feature on a node only happen mid-rollout; report the larger.
    const results: Measurement[] = [];
    for (const pod of running) {
      const m = await this.measurePod(creds, pod);
      if (m) results.push(m);
    }
    results.sort((a, b) => b.usage - a.usage);
    return { outcome: results[0] ?? this.notRunning(), apiReachable: true };
  }

  /** undefined: the cgroup vanished while being read (the container stopped or restarted meanwhile). */
  private async readOrGone(fs: CgroupFs, dir: string): Promise<number | undefined> {
    try {
      return await readWorkingSet(fs, dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.notes.push(`cgroup ${dir} went away while being read: container stopped or restarted`);
      return undefined;
    }
  }

  private async measurePod(creds: ApiCredentials, pod: FeaturePod): Promise<Measurement | undefined> {
    if (this.opts.source !== 'cgroup') {
      try {
        const usage = await podWorkingSet(creds, this.opts.namespace, pod.name, this.opts.container, this.deadline);
        if (usage !== undefined) return this.measured(usage, 'metrics.k8s.io', 'kube', { pod: pod.name });
        this.notes.push(`metrics: no ${this.opts.container} entry for pod ${pod.name} yet`);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        this.notes.push(`metrics: ${e.message}`);
      }
      if (this.opts.source === 'kube') throw new CheckError(1, `metrics.k8s.io: ${this.notes.at(-1) ?? 'no data'}`);
    }
    if (!pod.containerId) throw new CheckError(1, `pod ${pod.name} reports no container id for ${this.opts.container}`);
    const fs = await this.fs();
    const dir = await findCgroupDir(fs, kubeCgroupCandidates({ podUid: pod.uid, containerId: pod.containerId, qosClass: pod.qosClass }), pod.containerId);
    if (!dir) throw new CheckError(1, `cgroup of container ${pod.containerId.slice(0, 12)} (pod ${pod.name}) not found under ${fs.root}`);
    const usage = await this.readOrGone(fs, dir);
    return usage === undefined ? undefined : this.measured(usage, 'cgroup', 'kube', { pod: pod.name, cgroup: dir });
  }

  private async fromLocalKube(): Promise<CheckOutcome | undefined> {
    const found = await findLocalKubeContainers(this.paths.containerdState, this.paths.procRoot, this.opts.container, this.opts.namespace);
    if (found.length === 0) return undefined;
    const fs = await this.fs();
    const results: Measurement[] = [];
    for (const c of found) {
      const candidates = c.cgroupPath ? [c.cgroupPath] : kubeCgroupCandidates({ podUid: c.podUid, containerId: c.id });
      const dir = await findCgroupDir(fs, candidates, c.id);
      if (!dir) throw new CheckError(1, `cgroup of container ${c.id.slice(0, 12)} (pod ${c.podName}) not found under ${fs.root}`);
      const usage = await this.readOrGone(fs, dir);
      if (usage !== undefined) results.push(this.measured(usage, 'cgroup', 'containerd', { pod: c.podName, cgroup: dir }));
    }
    results.sort((a, b) => b.usage - a.usage);
    return results[0] ?? this.notRunning();
  }

  private async dockerList(): Promise<DockerContainer[] | undefined> {
    try {
      return await listRunning(this.paths.dockerSocket, this.deadline);
    } catch (e) {
      if (e instanceof DockerUnavailable) {
        this.notes.push(`docker: ${e.message}`);
        return undefined;
      }
      throw new CheckError(1, errorText(e));
    }
  }

  private async fromDockerContainer(c: DockerContainer): Promise<CheckOutcome> {
    const fs = await this.fs();
    let dir: string | undefined;
    let pid: number | undefined;
    try {
      pid = await inspectPid(this.paths.dockerSocket, c.id, this.deadline);
    } catch (e) {
      throw new CheckError(1, errorText(e));
    }
    if (pid === undefined) {
      this.notes.push(`docker: ${this.opts.container} stopped while being checked`);
      return this.notRunning();
    }
    try {
      const rel = memoryCgroupFromProc(await readFile(join(this.paths.procRoot, String(pid), 'cgroup'), 'utf8'), fs.version);
      if (rel !== undefined) dir = cgroupDir(fs, rel);
    } catch {
      dir = undefined;
    }
    dir ??= await findCgroupDir(fs, dockerCgroupCandidates(c.id), c.id);
    if (!dir) throw new CheckError(1, `cgroup of docker container ${c.id.slice(0, 12)} not found under ${fs.root}`);
    const isKube = c.labels['io.kubernetes.pod.namespace'] !== undefined;
    // A container that went away between inspect and read is "not running", as in SONiC's checker.
    const usage = await this.readOrGone(fs, dir);
    return usage === undefined ? this.notRunning() : this.measured(usage, 'cgroup', 'docker', { cgroup: dir, pod: isKube ? c.labels['io.kubernetes.pod.name'] : undefined });
  }
}

export async function checkMemory(
  opts: CheckerOptions,
  env: Readonly<Record<string, string | undefined>>,
  paths: HostPaths = hostPathsFromEnv(env),
): Promise<CheckOutcome> {
  try {
    return await new Checker(opts, paths, env, Date.now() + opts.timeoutMs).run();
  } finally {
    closeConnections();
  }
}

// Source 2, no API server: finding a Kubernetes container locally. containerd keeps each running
// task's OCI spec under its state directory, with the CRI annotations (container name, pod
// namespace and name) and the exact cgroupsPath kubelet asked for.
import { readFile, readdir } from '../files.js';
import { join } from 'node:path';
import { expandSystemdCgroupsPath, findCgroupDir, kubeCgroupCandidates } from '../cgroup.js';
import { CheckError } from '../errors.js';
import type { Measurement, MemorySource } from '../source.js';
import { isObj } from '../../util/json.js';

export interface LocalKubeContainer {
  id: string;
  podName: string;
  podUid: string;
  /** cgroup path relative to the memory hierarchy. */
  cgroupPath: string | undefined;
  pid: number | undefined;
}

/** Parse one task's config.json; undefined when it is not the named container of that namespace. */
export function matchTaskSpec(
  id: string,
  specText: string,
  container: string,
  namespace: string,
): Omit<LocalKubeContainer, 'pid'> | undefined {
  let spec: unknown;
  try {
    spec = JSON.parse(specText);
  } catch {
    return undefined;
  }
  if (!isObj(spec) || !isObj(spec.annotations)) return undefined;
  const a = spec.annotations;
  if (a['io.kubernetes.cri.container-type'] !== 'container') return undefined;
  if (a['io.kubernetes.cri.container-name'] !== container || a['io.kubernetes.cri.sandbox-namespace'] !== namespace) return undefined;
  const raw = isObj(spec.linux) && typeof spec.linux.cgroupsPath === 'string' ? spec.linux.cgroupsPath : undefined;
  const cgroupPath = raw === undefined ? undefined : raw.startsWith('/') ? raw : expandSystemdCgroupsPath(raw);
  return {
    id,
    podName: typeof a['io.kubernetes.cri.sandbox-name'] === 'string' ? a['io.kubernetes.cri.sandbox-name'] : '',
    podUid: typeof a['io.kubernetes.cri.sandbox-uid'] === 'string' ? a['io.kubernetes.cri.sandbox-uid'] : '',
    cgroupPath,
  };
}

export async function findLocalKubeContainers(
  stateRoot: string,
  procRoot: string,
  container: string,
  namespace: string,
): Promise<LocalKubeContainer[]> {
  const tasks = join(stateRoot, 'io.containerd.runtime.v2.task', 'k8s.io');
  let ids: string[];
  try {
    ids = await readdir(tasks);
  } catch {
    return [];
  }
  const found: LocalKubeContainer[] = [];
  for (const id of ids) {
    let text: string;
    try {
      text = await readFile(join(tasks, id, 'config.json'), 'utf8');
    } catch {
      continue;
    }
    const match = matchTaskSpec(id, text, container, namespace);
    if (!match) continue;
    let pid: number | undefined;
    try {
      pid = Number((await readFile(join(tasks, id, 'init.pid'), 'utf8')).trim()) || undefined;
      if (pid) await readFile(join(procRoot, String(pid), 'stat'));
    } catch {
      continue; // the task's process is gone: not running
    }
    found.push({ ...match, pid });
  }
  return found;
}

export const containerdSource: MemorySource = {
  name: 'containerd',
  applies: (ctx) => ctx.localKube,
  async find(ctx) {
    const found = await findLocalKubeContainers(
      ctx.settings.containerdState,
      ctx.settings.procRoot,
      ctx.opts.container,
      ctx.opts.namespace,
    );
    if (found.length === 0) return undefined;
    const fs = await ctx.fs();
    const results: Measurement[] = [];
    for (const c of found) {
      const candidates = c.cgroupPath ? [c.cgroupPath] : kubeCgroupCandidates({ podUid: c.podUid, containerId: c.id });
      const dir = await findCgroupDir(fs, candidates, c.id);
      if (!dir && !(await ctx.stillInContainer(c.pid, c.id))) {
        ctx.notes.push(`containerd: ${c.id.slice(0, 12)} (pod ${c.podName}) stopped while being checked`);
        continue;
      }
      if (!dir) throw new CheckError(1, `cgroup of container ${c.id.slice(0, 12)} (pod ${c.podName}) not found under ${fs.root}`);
      const usage = await ctx.readOrGone(dir);
      if (usage !== undefined) results.push(ctx.measured(usage, 'cgroup', 'containerd', { pod: c.podName, cgroup: dir }));
    }
    return ctx.largest(results) ?? ctx.notRunning();
  },
};

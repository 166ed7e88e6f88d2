// Working set from cgroup files, with the definition kubelet/cAdvisor (and so metrics.k8s.io) uses:
//   v2: memory.current       - inactive_file        (memory.stat)
//   v1: memory.usage_in_bytes - total_inactive_file (memory.stat)
// clamped at 0. Using the same definition keeps the number stable when the checker falls back from
// the metrics API to the files.
import { readFile, readdir, stat } from './files.js';
import { join } from 'node:path';
import { ValueError } from './errors.js';

export type CgroupVersion = 'v1' | 'v2';

const UINT = /^[0-9]+$/;

export function parseCounter(text: string, what: string): number {
  const trimmed = text.trim();
  if (!UINT.test(trimmed)) throw new ValueError(`${what} is not a non-negative integer: ${JSON.stringify(trimmed.slice(0, 40))}`);
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new ValueError(`${what} is out of range: ${trimmed.slice(0, 40)}`);
  return value;
}

/** memory.stat is "key value" per line; only the key we need must be well-formed. */
export function statField(statText: string, key: string, what: string): number {
  for (const line of statText.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp === -1) continue;
    if (line.slice(0, sp) === key) return parseCounter(line.slice(sp + 1), `${what}:${key}`);
  }
  throw new ValueError(`${what} has no ${key} line`);
}

export function workingSetFrom(version: CgroupVersion, usageText: string, statText: string, where: string): number {
  const usage = parseCounter(usageText, `${where}/${version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes'}`);
  const inactive = statField(statText, version === 'v2' ? 'inactive_file' : 'total_inactive_file', `${where}/memory.stat`);
  return Math.max(0, usage - inactive);
}

export interface CgroupFs {
  /** Mount point of the cgroup hierarchy (v2) or of the v1 hierarchies' parent. */
  root: string;
  version: CgroupVersion;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** v1 wins on hybrid hosts: there the unified mount carries no memory controller. */
export async function detectCgroupFs(root: string): Promise<CgroupFs | undefined> {
  if (await exists(join(root, 'memory', 'memory.stat'))) return { root, version: 'v1' };
  if (await exists(join(root, 'cgroup.controllers'))) return { root, version: 'v2' };
  return undefined;
}

/** Absolute directory of a cgroup path (as written in /proc/<pid>/cgroup or an OCI spec). */
export function cgroupDir(fs: CgroupFs, cgroupPath: string): string {
  const rel = cgroupPath.replace(/^\/+/, '');
  return fs.version === 'v1' ? join(fs.root, 'memory', rel) : join(fs.root, rel);
}

const RETRIES = 3;
const RETRY_DELAY_MS = 100;

async function readWithRetry(path: string): Promise<string> {
  let lastError: unknown;
  for (let i = 0; i < RETRIES; i++) {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      lastError = error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') break;
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
  throw lastError;
}

export async function readWorkingSet(fs: CgroupFs, dir: string): Promise<number> {
  const usageFile = fs.version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes';
  const [usage, statText] = await Promise.all([readWithRetry(join(dir, usageFile)), readWithRetry(join(dir, 'memory.stat'))]);
  return workingSetFrom(fs.version, usage, statText, dir);
}

/** The memory cgroup of a process from /proc/<pid>/cgroup text. */
export function memoryCgroupFromProc(procCgroup: string, version: CgroupVersion): string | undefined {
  for (const line of procCgroup.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first === -1 || second === -1) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (version === 'v2' && line.slice(0, first) === '0' && controllers === '') return path;
    if (version === 'v1' && controllers.split(',').includes('memory')) return path;
  }
  return undefined;
}

export interface KubeContainerRef {
  podUid: string;
  containerId: string;
  qosClass?: string | undefined;
}

const QOS_DIRS: Record<string, { fs: string; slice: string }> = {
  Guaranteed: { fs: '', slice: '' },
  Burstable: { fs: 'burstable', slice: 'burstable' },
  BestEffort: { fs: 'besteffort', slice: 'besteffort' },
};

/**
 * Where kubelet puts a container's cgroup, for the cgroupfs and systemd drivers and for the
 * containerd, CRI-O and cri-dockerd runtimes. Relative to the memory hierarchy.
 */
export function kubeCgroupCandidates(ref: KubeContainerRef): string[] {
  const qosList = ref.qosClass && QOS_DIRS[ref.qosClass] ? [QOS_DIRS[ref.qosClass]!] : Object.values(QOS_DIRS);
  const uidUnderscore = ref.podUid.replace(/-/g, '_');
  const id = ref.containerId;
  const out: string[] = [];
  for (const qos of qosList) {
    const fsPod = qos.fs ? `kubepods/${qos.fs}/pod${ref.podUid}` : `kubepods/pod${ref.podUid}`;
    out.push(`${fsPod}/${id}`);
    const sliceBase = qos.slice
      ? `kubepods.slice/kubepods-${qos.slice}.slice/kubepods-${qos.slice}-pod${uidUnderscore}.slice`
      : `kubepods.slice/kubepods-pod${uidUnderscore}.slice`;
    for (const prefix of ['cri-containerd', 'crio', 'docker']) out.push(`${sliceBase}/${prefix}-${id}.scope`);
  }
  return out;
}

/** Where Docker puts a natively run container: systemd driver, then cgroupfs driver. */
export function dockerCgroupCandidates(containerId: string): string[] {
  return [`system.slice/docker-${containerId}.scope`, `docker/${containerId}`];
}

/**
 * Expand a systemd-style cgroupsPath ("kubepods-burstable-pod<uid>.slice:cri-containerd:<id>") the
 * way runc does: every dash-separated prefix of the slice is a parent slice.
 */
export function expandSystemdCgroupsPath(spec: string): string | undefined {
  const parts = spec.split(':');
  if (parts.length !== 3) return undefined;
  const [slice, prefix, name] = parts as [string, string, string];
  if (!slice.endsWith('.slice') || !name) return undefined;
  const stem = slice.slice(0, -'.slice'.length);
  const segments = stem.split('-');
  const dirs: string[] = [];
  for (let i = 1; i <= segments.length; i++) dirs.push(`${segments.slice(0, i).join('-')}.slice`);
  return `${dirs.join('/')}/${prefix}-${name}.scope`;
}

/** First candidate directory that exists; else a bounded search of the kubepods tree for the id. */
export async function findCgroupDir(fs: CgroupFs, candidates: readonly string[], containerId: string): Promise<string | undefined> {
  for (const rel of candidates) {
    const dir = cgroupDir(fs, rel);
    if (await exists(dir)) return dir;
  }
  for (const top of ['kubepods', 'kubepods.slice']) {
    const found = await searchById(cgroupDir(fs, top), containerId, 4);
    if (found) return found;
  }
  return undefined;
}

async function searchById(dir: string, containerId: string, depth: number): Promise<string | undefined> {
  if (depth === 0) return undefined;
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return undefined;
  }
  const hit = entries.find((name) => name === containerId || name.endsWith(`-${containerId}.scope`));
  if (hit) return join(dir, hit);
  for (const name of entries) {
    const found = await searchById(join(dir, name), containerId, depth - 1);
    if (found) return found;
  }
  return undefined;
}

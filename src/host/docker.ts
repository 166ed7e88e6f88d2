// The Docker Engine API over its unix socket: list, inspect, stop and remove containers. The
// `Docker` port is what the rest of kubesonic sees; `dockerEngine(socket)` is the real one and
// test/fakes/docker.ts the in-memory one.
//
// The one rule for faults: only a Docker that is provably absent — its socket path does not exist,
// or the feature's spec says the node has none — means "no native container". Every other failure
// (refused, EACCES, not a socket, a timeout, an HTTP error, garbage) leaves the question open: a
// hung or restarting dockerd still has its containers running, so "unknown" must never read as
// "not running" where that would let the pod start next to the native one.
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import { isObj } from '../util/json.js';

// node:http is loaded on the first question to Docker, not at start: memory_checker's run on a
// migrated switch (containerd's state and the cgroup) never asks Docker, and loading it was a third
// of that run's time above a bare Node start (bench/results.md).
const load = createRequire(import.meta.url);
const http = () => load('node:http') as typeof Http;

/** Docker is provably not on this node: the socket path does not exist, or the spec says there is none. */
export class DockerAbsent extends Error {
  override name = 'DockerAbsent';
}

/** Docker is (or may be) there but gave no usable answer: whether a container runs is unknown. */
export class DockerFault extends Error {
  override name = 'DockerFault';
}

/**
 * The name callers used before the split (src/pod/restart.ts): it now means DockerAbsent only, so
 * such a caller treats a fault as the error it is instead of as "no native container".
 */
export const DockerUnavailable = DockerAbsent;

export interface DockerContainer {
  id: string;
  names: string[];
  labels: Record<string, string>;
}

/**
 * What kubesonic asks of Docker. Every call is bounded by an absolute deadline (Date.now() ms) and
 * fails with DockerAbsent (provably no Docker) or DockerFault (no usable answer: unknown).
 */
export interface Docker {
  listRunning(deadline: number): Promise<DockerContainer[]>;
  /** The pid of a running container; undefined once it stopped or is gone. */
  inspectPid(id: string, deadline: number): Promise<number | undefined>;
  /** The natively run container named exactly `name`, if it is running (not a Kubernetes one). */
  nativeRunning(name: string, deadline: number): Promise<DockerContainer | undefined>;
  /** docker stop -t graceSeconds; a container already stopped or gone is fine. */
  stop(id: string, graceSeconds: number, deadline: number): Promise<void>;
  /** docker rm -f of the native container named exactly `name` (v2 clean-up); true if one was removed. */
  removeNative(name: string, deadline: number): Promise<boolean>;
}

/**
 * The real Docker behind `socketPath`; undefined: the node has no Docker (a feature spec's
 * `host.dockerSocket: false`), every call answers DockerAbsent.
 */
export function dockerEngine(socketPath: string | undefined): Docker {
  if (socketPath === undefined) return absentDocker('the feature spec says this node has no Docker');
  return {
    listRunning: (deadline) => listRunning(socketPath, deadline),
    inspectPid: (id, deadline) => inspectPid(socketPath, id, deadline),
    nativeRunning: (name, deadline) => nativeRunning(socketPath, name, deadline),
    stop: (id, grace, deadline) => stopContainer(socketPath, id, grace, deadline),
    removeNative: (name, deadline) => removeNative(socketPath, name, deadline),
  };
}

/** A Docker known to be absent: every question gets DockerAbsent (nothing native can run). */
export function absentDocker(why: string): Docker {
  const absent = () => Promise.reject(new DockerAbsent(why));
  return { listRunning: absent, inspectPid: absent, nativeRunning: absent, stop: absent, removeNative: absent };
}

/** One request to the Docker Engine API, bounded by an absolute deadline. */
function dockerRequest(
  socketPath: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  deadline: number,
): Promise<{ status: number; text: string }> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new DockerFault(`docker API ${socketPath}: no time left to ask`));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const req = http().request({ socketPath, path, method, headers: { Host: 'docker' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        // A container list is kilobytes; a daemon streaming without end is a fault, not an answer.
        if (size > MAX_BODY) fail(new DockerFault(`docker API ${socketPath}: ${method} ${path}: body too large`));
        else chunks.push(c);
      });
      res.on('error', (e) => fail(new DockerFault(`docker API ${socketPath}: ${e.message}`)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(
      () => fail(new DockerFault(`docker API ${socketPath}: ${method} ${path} timed out after ${remaining} ms`)),
      remaining,
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      // ENOENT on connect: the socket path does not exist, the one proof that no dockerd is there.
      fail(
        e.code === 'ENOENT'
          ? new DockerAbsent(`docker API ${socketPath}: no such socket`)
          : new DockerFault(`docker API ${socketPath}: ${e.code ?? e.message}`),
      ),
    );
    req.end();
  });
}

const MAX_BODY = 16 * 1024 * 1024;

async function dockerGet(socketPath: string, path: string, deadline: number): Promise<{ status: number; body: unknown }> {
  const { status, text } = await dockerRequest(socketPath, 'GET', path, deadline);
  try {
    return { status, body: text ? (JSON.parse(text) as unknown) : undefined };
  } catch {
    throw new DockerFault(`docker API ${path}: body is not JSON`);
  }
}

export function parseContainerList(body: unknown): DockerContainer[] {
  if (!Array.isArray(body)) throw new DockerFault('docker API: container list is not an array');
  return body.filter(isObj).map((c) => ({
    id: typeof c.Id === 'string' ? c.Id : '',
    names: Array.isArray(c.Names) ? c.Names.filter((n): n is string => typeof n === 'string').map((n) => n.replace(/^\//, '')) : [],
    labels: isObj(c.Labels)
      ? (Object.fromEntries(Object.entries(c.Labels).filter(([, v]) => typeof v === 'string')) as Record<string, string>)
      : {},
  }));
}

async function listRunning(socketPath: string, deadline: number): Promise<DockerContainer[]> {
  const { status, body } = await dockerGet(socketPath, '/containers/json', deadline);
  if (status !== 200) throw new DockerFault(`docker API list: HTTP ${status}`);
  return parseContainerList(body);
}

/** Kubernetes-run containers (cri-dockerd) carry the CRI labels; native ones never do. */
export const isKubeContainer = (c: DockerContainer): boolean => c.labels['io.kubernetes.pod.namespace'] !== undefined;

/** The running container named exactly `name` — SONiC's native containers are named like the feature. */
export function findByExactName(containers: readonly DockerContainer[], name: string): DockerContainer | undefined {
  return containers.find((c) => c.names.includes(name));
}

/** A Kubernetes container seen through cri-dockerd, by its labels (as container_checker does). */
export function findKubeContainer(containers: readonly DockerContainer[], name: string, namespace: string): DockerContainer | undefined {
  return containers.find(
    (c) =>
      c.labels['io.kubernetes.container.name'] === name &&
      c.labels['io.kubernetes.pod.namespace'] === namespace &&
      c.labels['io.kubernetes.docker.type'] !== 'podsandbox',
  );
}

async function inspectPid(socketPath: string, id: string, deadline: number): Promise<number | undefined> {
  const { status, body } = await dockerGet(socketPath, `/containers/${encodeURIComponent(id)}/json`, deadline);
  if (status === 404) return undefined;
  if (status !== 200 || !isObj(body) || !isObj(body.State)) throw new DockerFault(`docker API inspect: HTTP ${status}`);
  const pid = body.State.Pid;
  return body.State.Running === true && typeof pid === 'number' && pid > 0 ? pid : undefined;
}

async function dockerPost(socketPath: string, path: string, deadline: number): Promise<number> {
  return (await dockerRequest(socketPath, 'POST', path, deadline)).status;
}

/** The natively run container named exactly `name`, if it is running (not a Kubernetes one). */
async function nativeRunning(socketPath: string, name: string, deadline: number): Promise<DockerContainer | undefined> {
  const c = findByExactName(await listRunning(socketPath, deadline), name);
  return c && !isKubeContainer(c) ? c : undefined;
}

/** Stop a container, giving it `graceSeconds` before SIGKILL (docker stop -t). */
async function stopContainer(socketPath: string, id: string, graceSeconds: number, deadline: number): Promise<void> {
  const status = await dockerPost(socketPath, `/containers/${encodeURIComponent(id)}/stop?t=${graceSeconds}`, deadline);
  if (status !== 204 && status !== 304 && status !== 404) throw new DockerFault(`docker stop ${id.slice(0, 12)}: HTTP ${status}`);
}

async function dockerDelete(socketPath: string, path: string, deadline: number): Promise<number> {
  return (await dockerRequest(socketPath, 'DELETE', path, deadline)).status;
}

/** docker rm -f of the native container named exactly `name` (v2 clean-up). */
async function removeNative(socketPath: string, name: string, deadline: number): Promise<boolean> {
  const all = await dockerGet(socketPath, `/containers/json?all=1`, deadline);
  if (all.status !== 200) throw new DockerFault(`docker API list: HTTP ${all.status}`);
  const c = findByExactName(parseContainerList(all.body), name);
  if (!c || isKubeContainer(c)) return false;
  const status = await dockerDelete(socketPath, `/containers/${encodeURIComponent(c.id)}?force=1`, deadline);
  if (status !== 204 && status !== 404) throw new DockerFault(`docker rm -f ${name}: HTTP ${status}`);
  return status === 204;
}

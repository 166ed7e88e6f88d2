// The Docker Engine API over its unix socket: list, inspect, stop and remove containers. The
// `Docker` port is what the rest of kubesonic sees; `dockerEngine(socket)` is the real one and
// test/fakes/docker.ts the in-memory one.
import { request } from 'node:http';
import { isObj } from '../util/json.js';

/** Nothing answers on the socket (no dockerd, or not reachable): distinct from an error of a running daemon. */
export class DockerUnavailable extends Error {
  override name = 'DockerUnavailable';
}

export interface DockerContainer {
  id: string;
  names: string[];
  labels: Record<string, string>;
}

/** What kubesonic asks of Docker. Every call is bounded by an absolute deadline (Date.now() ms). */
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

export function dockerEngine(socketPath: string): Docker {
  return {
    listRunning: (deadline) => listRunning(socketPath, deadline),
    inspectPid: (id, deadline) => inspectPid(socketPath, id, deadline),
    nativeRunning: (name, deadline) => nativeRunning(socketPath, name, deadline),
    stop: (id, grace, deadline) => stopContainer(socketPath, id, grace, deadline),
    removeNative: (name, deadline) => removeNative(socketPath, name, deadline),
  };
}

/** One request to the Docker Engine API, bounded by an absolute deadline. */
function dockerRequest(
  socketPath: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  deadline: number,
): Promise<{ status: number; text: string }> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new DockerUnavailable('docker API timed out'));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, headers: { Host: 'docker' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new DockerUnavailable('docker API timed out'));
    }, remaining);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK'].includes(e.code ?? '') ? new DockerUnavailable(`docker API: ${e.code}`) : e);
    });
    req.end();
  });
}

async function dockerGet(socketPath: string, path: string, deadline: number): Promise<{ status: number; body: unknown }> {
  const { status, text } = await dockerRequest(socketPath, 'GET', path, deadline);
  try {
    return { status, body: text ? (JSON.parse(text) as unknown) : undefined };
  } catch {
    throw new Error(`docker API ${path}: body is not JSON`);
  }
}

export function parseContainerList(body: unknown): DockerContainer[] {
  if (!Array.isArray(body)) throw new Error('docker API: container list is not an array');
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
  if (status !== 200) throw new Error(`docker API list: HTTP ${status}`);
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
  if (status !== 200 || !isObj(body) || !isObj(body.State)) throw new Error(`docker API inspect: HTTP ${status}`);
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
  if (status !== 204 && status !== 304 && status !== 404) throw new Error(`docker stop ${id.slice(0, 12)}: HTTP ${status}`);
}

async function dockerDelete(socketPath: string, path: string, deadline: number): Promise<number> {
  return (await dockerRequest(socketPath, 'DELETE', path, deadline)).status;
}

/** docker rm -f of the native container named exactly `name` (v2 clean-up). */
async function removeNative(socketPath: string, name: string, deadline: number): Promise<boolean> {
  const all = await dockerGet(socketPath, `/containers/json?all=1`, deadline);
  const c = findByExactName(parseContainerList(all.body), name);
  if (!c || isKubeContainer(c)) return false;
  const status = await dockerDelete(socketPath, `/containers/${encodeURIComponent(c.id)}?force=1`, deadline);
  if (status !== 204 && status !== 404) throw new Error(`docker rm -f ${name}: HTTP ${status}`);
  return status === 204;
}

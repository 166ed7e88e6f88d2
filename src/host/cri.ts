// The switch's container runtime as the kubelet sees it (CRI), through crictl (sigs.k8s.io/cri-tools,
// which kubeadm's Debian package depends on, so Kubernetes-enabled SONiC images carry it). Restarts
// and `supervisorctl` go here rather than through the API server: the pod (UID, image, spec) stays,
// the kubelet restarts the container (restartCount + 1), and it works while the API server is away.
// `ContainerRuntime` is the port; `crictlRuntime()` the real one, test/fakes/runtime.ts the fake.
import { execFile } from 'node:child_process';
import { isObj } from '../util/json.js';

/** crictl is missing or its endpoint does not answer: nothing is known about the containers. */
export class RuntimeUnavailable extends Error {
  override name = 'RuntimeUnavailable';
}

export interface CriContainer {
  id: string;
  /** Container name in the pod (the feature's, `_` as `-`). */
  name: string;
  podUid: string;
  podName: string;
  namespace: string;
  /** CRI's restart counter for this container in its pod (0 for the first). */
  attempt: number;
  running: boolean;
  image: string;
}

export interface ContainerRuntime {
  /** The containers named `name` of pods in `namespace` on this node, running or not, newest attempt first. */
  containers(namespace: string, name: string): Promise<CriContainer[]>;
  /** Stop a container (SIGTERM, SIGKILL after graceSeconds); the kubelet then restarts it. */
  stop(id: string, graceSeconds: number): Promise<void>;
  /** Run argv inside a running container; resolves with its exit status. */
  exec(id: string, argv: readonly string[], timeoutSeconds: number): Promise<number>;
}

/** The running container of the feature, if any. */
export async function runningContainer(cri: ContainerRuntime, namespace: string, name: string): Promise<CriContainer | undefined> {
  return (await cri.containers(namespace, name)).find((c) => c.running);
}

interface CrictlResult {
  code: number;
  stdout: string;
  stderr: string;
}

function crictl(bin: string, endpoint: string, args: readonly string[], timeoutMs: number): Promise<CrictlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '5s', ...args],
      { timeout: timeoutMs, maxBuffer: 4 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
        if (e && typeof e.code === 'string') {
          reject(new RuntimeUnavailable(e.code === 'ENOENT' ? `${bin} not found (cri-tools)` : `${bin}: ${e.code}`));
          return;
        }
        if (e?.killed) {
          reject(new RuntimeUnavailable(`${bin} ${args[0]} did not answer within ${Math.round(timeoutMs / 1000)} s`));
          return;
        }
        resolve({ code: typeof e?.code === 'number' ? e.code : 0, stdout, stderr });
      },
    );
  });
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

/** `crictl ps -o json`'s containers, as kubesonic needs them; malformed entries are skipped. */
export function parseCrictlPs(json: string): CriContainer[] {
  const doc: unknown = JSON.parse(json);
  const list = isObj(doc) && Array.isArray(doc.containers) ? doc.containers : [];
  const out: CriContainer[] = [];
  for (const c of list) {
    if (!isObj(c) || typeof c.id !== 'string') continue;
    const labels = isObj(c.labels) ? (c.labels as Record<string, unknown>) : {};
    const meta = isObj(c.metadata) ? c.metadata : {};
    const image = isObj(c.image) && typeof c.image.image === 'string' ? c.image.image : '';
    out.push({
      id: c.id,
      name: typeof meta.name === 'string' ? meta.name : String(labels['io.kubernetes.container.name'] ?? ''),
      podUid: String(labels['io.kubernetes.pod.uid'] ?? ''),
      podName: String(labels['io.kubernetes.pod.name'] ?? ''),
      namespace: String(labels['io.kubernetes.pod.namespace'] ?? ''),
      attempt: typeof meta.attempt === 'number' ? meta.attempt : 0,
      running: c.state === 'CONTAINER_RUNNING',
      image,
    });
  }
  return out.sort((a, b) => b.attempt - a.attempt);
}

export function crictlRuntime(opts: { crictl: string; endpoint: string }): ContainerRuntime {
  const run = async (args: readonly string[], timeoutMs: number): Promise<string> => {
    const r = await crictl(opts.crictl, opts.endpoint, args, timeoutMs);
    if (r.code !== 0) {
      const why = lastLine(r.stderr) || `exit ${r.code}`;
      // crictl's own words for a socket nobody answers on.
      if (/connect: no such file|connection refused|context deadline exceeded|Unavailable/.test(why))
        throw new RuntimeUnavailable(`container runtime at ${opts.endpoint}: ${why}`);
      throw new Error(`crictl ${args[0]}: ${why}`);
    }
    return r.stdout;
  };
  return {
    async containers(namespace, name) {
      const json = await run(
        ['ps', '-a', '-o', 'json', '--name', `^${name}$`, '--label', `io.kubernetes.pod.namespace=${namespace}`],
        15_000,
      );
      // --name is a regular expression over the name; the exact match is checked here too.
      return parseCrictlPs(json).filter((c) => c.name === name && c.namespace === namespace);
    },
    async stop(id, graceSeconds) {
      await run(['stop', '--timeout', String(graceSeconds), id], (graceSeconds + 15) * 1000);
    },
    async exec(id, argv, timeoutSeconds) {
      const r = await crictl(
        opts.crictl,
        opts.endpoint,
        ['exec', '--timeout', String(timeoutSeconds), id, ...argv],
        (timeoutSeconds + 10) * 1000,
      );
      if (r.stdout) process.stdout.write(r.stdout);
      if (r.stderr) process.stderr.write(r.stderr);
      return r.code;
    },
  };
}

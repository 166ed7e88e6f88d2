// The one reader of the environment. Every entry point calls readSettings() once and hands the
// result down; nothing else in src/ looks at process.env, and every default lives here or in
// sonic/paths.ts (actions/checkout's input-helper idea). Reading never fails: a value is checked
// where it is used, so memory_checker is never broken by a variable only the sidecar reads.
import { hostname } from 'node:os';
import {
  CGROUP_ROOT,
  CONTAINERD_STATE,
  CRI_ENDPOINT,
  DOCKER_SOCKET,
  PROC_ROOT,
  REDIS_SOCKET,
  TLS_SESSION_DIR,
  VERSIONS,
  type MigrationVersion,
} from './sonic/paths.js';
import { ExitError } from './util/errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where SONiC's Redis is: its unix socket on a switch, TCP where a test says so. */
export interface RedisTarget {
  path?: string;
  host?: string;
  port?: number;
}

/** Where the API server's credentials may come from, in the order they are tried. */
export interface ApiSources {
  /** $KUBERNETES_SERVICE_HOST/PORT: set by the kubelet inside a pod. */
  inCluster: { host: string; port: string } | undefined;
  /** $KUBECONFIG, split on ':'. */
  kubeconfigs: string[];
}

export interface Settings {
  /** This node: $NODE_NAME (the downward API in a pod), else the host name; lower-case as Kubernetes has it. */
  nodeName: string;
  api: ApiSources;
  /** $KUBESONIC_REDIS_HOST/PORT, else $KUBESONIC_REDIS_SOCKET, else SONiC's socket. */
  redis: RedisTarget;
  /** $DOCKER_HOST (unix:// only), else SONiC's socket. */
  dockerSocket: string;
  /**
   * $KUBESONIC_CGROUP_ROOT, $KUBESONIC_PROC_ROOT, $KUBESONIC_CONTAINERD_STATE: the host roots
   * memory_checker reads (tests point them at fixtures).
   */
  cgroupRoot: string;
  procRoot: string;
  containerdState: string;
  /** $KUBESONIC_HOST_ROOT: where the sidecar sees the host's files; empty: leave host files alone. */
  hostRoot: string;
  /** $KUBESONIC_MIGRATION_VERSION as given (rendered into the pod); checked by migrationVersion(). */
  migrationVersionRaw: string | undefined;
  /** $POD_NAMESPACE: the sidecar's own namespace (downward API). */
  podNamespace: string | undefined;
  /** $KUBESONIC_FAULT_AFTER_STEP: crash tests end migrate/rollback right after this step, as a power cut would. */
  faultAfterStep: string | undefined;
  /** The container runtime on the switch: $KUBESONIC_CRICTL (default `crictl` on PATH) and $CONTAINER_RUNTIME_ENDPOINT (crictl's own variable). */
  cri: { crictl: string; endpoint: string };
  /**
   * $KUBESONIC_MEMORY_CHECKER_SYSLOG: what memory_checker sends to syslog. `rare` (default): the
   * usage line above the threshold, and errors; `all`: also SONiC's per-run INFO trail (a `logger`
   * spawn every run); `off`: nothing. Anything else reads as the default.
   */
  memoryCheckerSyslog: MemoryCheckerSyslog;
  /**
   * $KUBESONIC_TLS_SESSION_DIR (empty: none): where a root memory_checker keeps its TLS session
   * with the API server for the next run (kube/tls-sessions.ts); default /run/kubesonic/tls-sessions.
   */
  tlsSessionDir: string | undefined;
}

export type MemoryCheckerSyslog = 'rare' | 'all' | 'off';

function redisTarget(env: Env): RedisTarget {
  if (env.KUBESONIC_REDIS_HOST) return { host: env.KUBESONIC_REDIS_HOST, port: Number(env.KUBESONIC_REDIS_PORT || 6379) };
  return { path: env.KUBESONIC_REDIS_SOCKET || REDIS_SOCKET };
}

function dockerSocket(env: Env): string {
  const host = env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : DOCKER_SOCKET;
}

/** The sidecar's migration version; a value that is none throws a one-line error (exit 2). */
export function migrationVersion(settings: Pick<Settings, 'migrationVersionRaw'>): MigrationVersion {
  const v = settings.migrationVersionRaw || 'v1';
  if (!(VERSIONS as readonly string[]).includes(v))
    throw new ExitError(`KUBESONIC_MIGRATION_VERSION must be one of ${VERSIONS.join(', ')}, got ${JSON.stringify(v)}`, 2);
  return v as MigrationVersion;
}

export function readSettings(env: Env = process.env): Settings {
  const serviceHost = env.KUBERNETES_SERVICE_HOST;
  return {
    nodeName: (env.NODE_NAME || hostname()).toLowerCase(),
    api: {
      inCluster: serviceHost ? { host: serviceHost, port: env.KUBERNETES_SERVICE_PORT || '443' } : undefined,
      kubeconfigs: (env.KUBECONFIG ?? '').split(':').filter(Boolean),
    },
    redis: redisTarget(env),
    dockerSocket: dockerSocket(env),
    cgroupRoot: env.KUBESONIC_CGROUP_ROOT || CGROUP_ROOT,
    procRoot: env.KUBESONIC_PROC_ROOT || PROC_ROOT,
    containerdState: env.KUBESONIC_CONTAINERD_STATE || CONTAINERD_STATE,
    hostRoot: env.KUBESONIC_HOST_ROOT ?? '',
    migrationVersionRaw: env.KUBESONIC_MIGRATION_VERSION || undefined,
    podNamespace: env.POD_NAMESPACE || undefined,
    faultAfterStep: env.KUBESONIC_FAULT_AFTER_STEP || undefined,
    cri: { crictl: env.KUBESONIC_CRICTL || 'crictl', endpoint: env.CONTAINER_RUNTIME_ENDPOINT || CRI_ENDPOINT },
    memoryCheckerSyslog:
      env.KUBESONIC_MEMORY_CHECKER_SYSLOG === 'all' || env.KUBESONIC_MEMORY_CHECKER_SYSLOG === 'off'
        ? env.KUBESONIC_MEMORY_CHECKER_SYSLOG
        : 'rare',
    tlsSessionDir: env.KUBESONIC_TLS_SESSION_DIR === undefined ? TLS_SESSION_DIR : env.KUBESONIC_TLS_SESSION_DIR || undefined,
  };
}

// A feature's deployment spec: the small file an operator writes per feature (deploy/features/).
// Parsing is strict: unknown keys, bad quantities and requests above limits are errors with the
// path of the offending field, so nothing half-valid reaches the apiserver.
import { load as loadYaml } from 'js-yaml';
import { parseBytes, parseMillicores } from '../kube/quantity.js';
import {
  DEFAULT_FALLBACK_SECONDS,
  DOCKER_SOCKET,
  SYSLOG_SOCKET,
  FEATURE_NAMESPACE,
  REDIS_SOCKET_DIR,
  RUN_DIR,
  STATE_DIR,
  UNIT_DIR,
  VERSIONS,
  type MigrationVersion,
} from '../sonic/paths.js';
import { isObj, type Obj } from '../util/json.js';
import { errorLine } from '../util/errors.js';

export interface ProbeSpec {
  exec?: string[];
  httpGet?: { path: string; port: number };
  tcpPort?: number;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface MountSpec {
  name: string;
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
  type?: string;
}

export interface Resources {
  requests: { memory?: string; cpu?: string };
  limits: { memory?: string; cpu?: string };
}

/**
 * How a new pod template reaches the switches: OnDelete (a switch takes it only when its pod is
 * deleted, e.g. by `systemctl restart <f>` there) or RollingUpdate, at most maxUnavailable switches
 * without the feature at once (an integer, or a percent of the selected switches).
 */
export type Rollout = { strategy: 'OnDelete' } | { strategy: 'RollingUpdate'; maxUnavailable: number | string };

export interface FeatureSpec {
  feature: string;
  namespace: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  command: string[];
  args: string[];
  env: Record<string, string>;
  mainProcess: string | undefined;
  resources: Resources;
  probes: { liveness?: ProbeSpec; readiness?: ProbeSpec; startup?: ProbeSpec };
  hostNetwork: boolean;
  ports: { containerPort: number; name?: string; protocol: 'TCP' | 'UDP' }[];
  mounts: MountSpec[];
  sidecar:
    | { image: string; version: MigrationVersion; resources: Resources; imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never' }
    | undefined;
  /** Where hostNetwork pods reach the apiserver when the cluster has no kube-proxy on the node. */
  apiServer: { host: string; port: number } | undefined;
  /** Redis unix socket directory on the host (SONiC: /var/run/redis). */
  redisSocketDir: string;
  /**
   * Who keeps FEATURE and the unit in step with the pod: the per-node agent (one process for every
   * migrated feature, the default) or a sidecar in the feature's own pod (the seed's shape).
   */
  sync: 'agent' | 'sidecar';
  /** Feature's threshold for monit / the exporter, bytes. */
  memoryThreshold: number | undefined;
  /**
   * Seconds without a pod from Kubernetes after which the unit runs the image's own container
   * (SONiC's revert_to_local_on_wait_seconds, default 360); 0: never. CONFIG_DB FEATURE|<f>
   * no_fallback_to_local=true turns it off per switch.
   */
  fallbackSeconds: number;
  /**
   * Host directories the syncer manages, and whether the node has Docker (SONiC's socket by default):
   * the host side's Docker work (migrate's stop-native, v2's clean-up) uses the switch's own setting;
   * no pod mounts it. dockerSocket undefined (`false` in the spec): the node has no Docker, so no
   * native container can run.
   * syslogSocket: the host's syslog socket the agent logs OOM kills to; undefined: none mounted.
   */
  host: { unitDir: string; stateDir: string; runDir: string; dockerSocket: string | undefined; syslogSocket: string | undefined };
  rollout: Rollout;
  /** Node labels the DaemonSet's pods need (a canary label, the hwsku): the feature runs only there. */
  nodeSelector: Record<string, string>;
}

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}

// FEATURE keys are 1..32 characters; Kubernetes object names also need a DNS-1123 label.
export const FEATURE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function objectName(feature: string): string {
  return feature.replace(/_/g, '-');
}

function allowOnly(obj: Obj, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) throw new SpecError(`${path}.${k}: unknown field`);
}

function str(obj: Obj, key: string, path: string, required = false): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new SpecError(`${path}.${key}: required`);
    return undefined;
  }
  if (typeof v !== 'string' || v === '') throw new SpecError(`${path}.${key}: must be a non-empty string`);
  return v;
}

function strList(v: unknown, path: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new SpecError(`${path}: must be a list of strings`);
  return v as string[];
}

function int(v: unknown, path: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new SpecError(`${path}: must be an integer in ${min}..${max}`);
  return v;
}

function resources(v: unknown, path: string): Resources {
  if (v === undefined) return { requests: {}, limits: {} };
  if (!isObj(v)) throw new SpecError(`${path}: must be a mapping`);
  allowOnly(v, path, ['requests', 'limits']);
  const out: Resources = { requests: {}, limits: {} };
  for (const kind of ['requests', 'limits'] as const) {
    const r = v[kind];
    if (r === undefined) continue;
    if (!isObj(r)) throw new SpecError(`${path}.${kind}: must be a mapping`);
    allowOnly(r, `${path}.${kind}`, ['memory', 'cpu']);
    for (const res of ['memory', 'cpu'] as const) {
      const raw = r[res];
      if (raw === undefined) continue;
      const text = typeof raw === 'number' ? String(raw) : raw;
      if (typeof text !== 'string') throw new SpecError(`${path}.${kind}.${res}: must be a quantity`);
      const parsed = res === 'memory' ? parseBytes(text) : parseMillicores(text);
      if (parsed === undefined || parsed <= 0)
        throw new SpecError(`${path}.${kind}.${res}: ${JSON.stringify(text)} is not a positive quantity`);
      out[kind][res] = text;
    }
  }
  for (const res of ['memory', 'cpu'] as const) {
    const req = out.requests[res];
    const lim = out.limits[res];
    if (req === undefined || lim === undefined) continue;
    const parse = res === 'memory' ? parseBytes : parseMillicores;
    if (parse(req)! > parse(lim)!) throw new SpecError(`${path}: requests.${res} ${req} is above limits.${res} ${lim}`);
  }
  return out;
}

function probe(v: unknown, path: string, mainProcess: string | undefined, dflt: { delay: number; period: number }): ProbeSpec | undefined {
  if (v === false) return undefined;
  if (v === undefined) {
    if (!mainProcess) return undefined;
    return {
      exec: ['/usr/bin/pgrep', mainProcess],
      initialDelaySeconds: dflt.delay,
      periodSeconds: dflt.period,
      timeoutSeconds: 5,
      failureThreshold: 3,
    };
  }
  if (!isObj(v)) throw new SpecError(`${path}: must be a mapping or false`);
  allowOnly(v, path, ['exec', 'httpGet', 'tcpPort', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold']);
  const handlers = ['exec', 'httpGet', 'tcpPort'].filter((k) => v[k] !== undefined);
  if (handlers.length !== 1) throw new SpecError(`${path}: needs exactly one of exec, httpGet, tcpPort`);
  const p: ProbeSpec = {
    initialDelaySeconds: int(v.initialDelaySeconds, `${path}.initialDelaySeconds`, 0, 3600, dflt.delay),
    periodSeconds: int(v.periodSeconds, `${path}.periodSeconds`, 1, 3600, dflt.period),
    timeoutSeconds: int(v.timeoutSeconds, `${path}.timeoutSeconds`, 1, 600, 5),
    failureThreshold: int(v.failureThreshold, `${path}.failureThreshold`, 1, 100, 3),
  };
  if (v.exec !== undefined) {
    p.exec = strList(v.exec, `${path}.exec`);
    if (p.exec.length === 0) throw new SpecError(`${path}.exec: must not be empty`);
  }
  if (v.httpGet !== undefined) {
    if (!isObj(v.httpGet)) throw new SpecError(`${path}.httpGet: must be a mapping`);
    p.httpGet = { path: str(v.httpGet, 'path', `${path}.httpGet`) ?? '/', port: int(v.httpGet.port, `${path}.httpGet.port`, 1, 65535, 0) };
    if (p.httpGet.port === 0) throw new SpecError(`${path}.httpGet.port: required`);
  }
  if (v.tcpPort !== undefined) p.tcpPort = int(v.tcpPort, `${path}.tcpPort`, 1, 65535, 0);
  return p;
}

/** Kubernetes' qualified label key: an optional DNS-subdomain prefix and a name of at most 63 characters. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  return LABEL_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix)));
}

function nodeSelector(v: unknown, path: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObj(v)) throw new SpecError(`${path}: must be a mapping of node label to value`);
  const out: Record<string, string> = {};
  for (const [k, raw] of Object.entries(v)) {
    if (!isLabelKey(k)) throw new SpecError(`${path}.${k}: not a valid label key`);
    // YAML reads `canary: true` as a boolean; a label value is always a string.
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean')
      throw new SpecError(`${path}.${k}: must be a string`);
    const value = String(raw);
    if (!LABEL_VALUE.test(value)) throw new SpecError(`${path}.${k}: ${JSON.stringify(value)} is not a valid label value`);
    out[k] = value;
  }
  return out;
}

function rollout(v: unknown, path: string): Rollout {
  if (v === undefined) return { strategy: 'RollingUpdate', maxUnavailable: 1 };
  if (!isObj(v)) throw new SpecError(`${path}: must be a mapping`);
  allowOnly(v, path, ['strategy', 'maxUnavailable']);
  const strategy = v.strategy ?? 'RollingUpdate';
  if (strategy === 'OnDelete') {
    if (v.maxUnavailable !== undefined) throw new SpecError(`${path}.maxUnavailable: only with strategy RollingUpdate`);
    return { strategy };
  }
  if (strategy !== 'RollingUpdate') throw new SpecError(`${path}.strategy: OnDelete or RollingUpdate`);
  const m = v.maxUnavailable ?? 1;
  if (typeof m === 'number') {
    // 0 would never update a pod: the rollout would hang (the API server refuses it too).
    if (!Number.isInteger(m) || m < 1) throw new SpecError(`${path}.maxUnavailable: a positive integer or a percent like "10%"`);
    return { strategy, maxUnavailable: m };
  }
  const pct = typeof m === 'string' ? /^([1-9][0-9]?|100)%$/.exec(m) : null;
  if (!pct) throw new SpecError(`${path}.maxUnavailable: a positive integer or a percent like "10%"`);
  return { strategy, maxUnavailable: m as string };
}

const PULL = ['Always', 'IfNotPresent', 'Never'] as const;
function pullPolicy(v: unknown, path: string): (typeof PULL)[number] {
  if (v === undefined) return 'IfNotPresent';
  if (!PULL.includes(v as (typeof PULL)[number])) throw new SpecError(`${path}: must be one of ${PULL.join(', ')}`);
  return v as (typeof PULL)[number];
}

export function parseFeatureSpec(text: string, source = 'spec'): FeatureSpec {
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch (e) {
    throw new SpecError(`${source}: not YAML: ${errorLine(e)}`);
  }
  if (!isObj(doc)) throw new SpecError(`${source}: must be a mapping`);
  const p = source;
  allowOnly(doc, p, [
    'feature',
    'namespace',
    'image',
    'imagePullPolicy',
    'command',
    'args',
    'env',
    'mainProcess',
    'resources',
    'probes',
    'hostNetwork',
    'ports',
    'mounts',
    'sidecar',
    'apiServer',
    'redisSocketDir',
    'memoryThreshold',
    'fallbackSeconds',
    'host',
    'sync',
    'rollout',
    'nodeSelector',
  ]);
  const feature = str(doc, 'feature', p, true)!;
  if (!FEATURE_NAME.test(feature)) throw new SpecError(`${p}.feature: ${JSON.stringify(feature)} must match ${FEATURE_NAME.source}`);
  const namespace = str(doc, 'namespace', p) ?? FEATURE_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) throw new SpecError(`${p}.namespace: ${JSON.stringify(namespace)} is not a DNS-1123 label`);
  const image = str(doc, 'image', p, true)!;
  if (/\s/.test(image)) throw new SpecError(`${p}.image: must not contain spaces`);
  const mainProcess = str(doc, 'mainProcess', p);
  const env: Record<string, string> = {};
  if (doc.env !== undefined) {
    if (!isObj(doc.env)) throw new SpecError(`${p}.env: must be a mapping`);
    for (const [k, v] of Object.entries(doc.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new SpecError(`${p}.env.${k}: invalid variable name`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new SpecError(`${p}.env.${k}: must be a scalar`);
      env[k] = String(v);
    }
  }
  const probesDoc = doc.probes === undefined ? {} : doc.probes;
  if (!isObj(probesDoc)) throw new SpecError(`${p}.probes: must be a mapping`);
  allowOnly(probesDoc, `${p}.probes`, ['liveness', 'readiness', 'startup']);
  // Defaults are the seed's: liveness 60 s / 30 s, readiness 30 s / 15 s, exec pgrep <main process>.
  const probes = {
    liveness: probe(probesDoc.liveness, `${p}.probes.liveness`, mainProcess, { delay: 60, period: 30 }),
    readiness: probe(probesDoc.readiness, `${p}.probes.readiness`, mainProcess, { delay: 30, period: 15 }),
    startup:
      probesDoc.startup === undefined ? undefined : probe(probesDoc.startup, `${p}.probes.startup`, undefined, { delay: 0, period: 5 }),
  };
  const ports = (Array.isArray(doc.ports) ? doc.ports : doc.ports === undefined ? [] : null)?.map((entry, i) => {
    const path = `${p}.ports[${i}]`;
    if (typeof entry === 'number') return { containerPort: int(entry, path, 1, 65535, 0), protocol: 'TCP' as const };
    if (!isObj(entry)) throw new SpecError(`${path}: must be a port number or mapping`);
    allowOnly(entry, path, ['containerPort', 'name', 'protocol']);
    const protocol = entry.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') throw new SpecError(`${path}.protocol: TCP or UDP`);
    return {
      containerPort: int(entry.containerPort, `${path}.containerPort`, 1, 65535, 0),
      name: str(entry, 'name', path),
      protocol: protocol as 'TCP' | 'UDP',
    };
  });
  if (!ports) throw new SpecError(`${p}.ports: must be a list`);
  if (ports.some((x) => x.containerPort === 0)) throw new SpecError(`${p}.ports: containerPort required`);
  const mountsDoc = doc.mounts ?? [];
  if (!Array.isArray(mountsDoc)) throw new SpecError(`${p}.mounts: must be a list`);
  const mounts = mountsDoc.map((m, i): MountSpec => {
    const path = `${p}.mounts[${i}]`;
    if (!isObj(m)) throw new SpecError(`${path}: must be a mapping`);
    allowOnly(m, path, ['name', 'hostPath', 'mountPath', 'readOnly', 'type']);
    const hostPath = str(m, 'hostPath', path, true)!;
    const mountPath = str(m, 'mountPath', path) ?? hostPath;
    for (const [k, v] of [
      ['hostPath', hostPath],
      ['mountPath', mountPath],
    ] as const) {
      if (!v.startsWith('/') || v.split('/').includes('..')) throw new SpecError(`${path}.${k}: must be an absolute path without ..`);
    }
    const name = str(m, 'name', path) ?? `host${hostPath.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.replace(/-+$/, '').slice(0, 63);
    if (!DNS_LABEL.test(name)) throw new SpecError(`${path}.name: ${JSON.stringify(name)} is not a DNS-1123 label`);
    if (m.readOnly !== undefined && typeof m.readOnly !== 'boolean') throw new SpecError(`${path}.readOnly: must be true or false`);
    return { name, hostPath, mountPath, readOnly: m.readOnly === true, type: str(m, 'type', path) };
  });
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.name) || seen.has(`path:${m.mountPath}`))
      throw new SpecError(`${p}.mounts: duplicate name or mountPath ${m.name} ${m.mountPath}`);
    seen.add(m.name).add(`path:${m.mountPath}`);
  }
  let sidecar: FeatureSpec['sidecar'];
  if (doc.sidecar !== undefined && doc.sidecar !== null && doc.sidecar !== false) {
    if (!isObj(doc.sidecar)) throw new SpecError(`${p}.sidecar: must be a mapping or false`);
    allowOnly(doc.sidecar, `${p}.sidecar`, ['image', 'version', 'resources', 'imagePullPolicy']);
    const version = (str(doc.sidecar, 'version', `${p}.sidecar`) ?? 'v1') as MigrationVersion;
    if (!VERSIONS.includes(version)) throw new SpecError(`${p}.sidecar.version: one of ${VERSIONS.join(', ')}`);
    sidecar = {
      image: str(doc.sidecar, 'image', `${p}.sidecar`, true)!,
      version,
      resources: resources(
        doc.sidecar.resources ?? { requests: { memory: '32Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '100m' } },
        `${p}.sidecar.resources`,
      ),
      imagePullPolicy: pullPolicy(doc.sidecar.imagePullPolicy, `${p}.sidecar.imagePullPolicy`),
    };
  }
  let apiServer: FeatureSpec['apiServer'];
  if (doc.apiServer !== undefined) {
    if (!isObj(doc.apiServer)) throw new SpecError(`${p}.apiServer: must be a mapping`);
    allowOnly(doc.apiServer, `${p}.apiServer`, ['host', 'port']);
    apiServer = {
      host: str(doc.apiServer, 'host', `${p}.apiServer`, true)!,
      port: int(doc.apiServer.port, `${p}.apiServer.port`, 1, 65535, 6443),
    };
  }
  const memoryThreshold = doc.memoryThreshold === undefined ? undefined : parseBytes(String(doc.memoryThreshold));
  if (doc.memoryThreshold !== undefined && !memoryThreshold) throw new SpecError(`${p}.memoryThreshold: must be a positive quantity`);
  const hostDoc = doc.host ?? {};
  if (!isObj(hostDoc)) throw new SpecError(`${p}.host: must be a mapping`);
  allowOnly(hostDoc, `${p}.host`, ['unitDir', 'stateDir', 'runDir', 'dockerSocket', 'syslogSocket']);
  const host = {
    unitDir: str(hostDoc, 'unitDir', `${p}.host`) ?? UNIT_DIR,
    stateDir: str(hostDoc, 'stateDir', `${p}.host`) ?? STATE_DIR,
    runDir: str(hostDoc, 'runDir', `${p}.host`) ?? RUN_DIR,
    dockerSocket: hostDoc.dockerSocket === false ? undefined : (str(hostDoc, 'dockerSocket', `${p}.host`) ?? DOCKER_SOCKET),
    syslogSocket: hostDoc.syslogSocket === false ? undefined : (str(hostDoc, 'syslogSocket', `${p}.host`) ?? SYSLOG_SOCKET),
  };
  for (const [k, v] of Object.entries(host))
    if (v !== undefined && !v.startsWith('/')) throw new SpecError(`${p}.host.${k}: must be an absolute path`);
  const sync = doc.sync ?? 'agent';
  if (sync !== 'agent' && sync !== 'sidecar') throw new SpecError(`${p}.sync: agent or sidecar`);
  const hostNetwork = doc.hostNetwork ?? true;
  if (typeof hostNetwork !== 'boolean') throw new SpecError(`${p}.hostNetwork: must be true or false`);
  const command = strList(doc.command, `${p}.command`);
  // The host-side hold (systemctl stop) wraps the command; an image's ENTRYPOINT cannot be wrapped unseen.
  if (command.length === 0) throw new SpecError(`${p}.command: required (the image's entrypoint, e.g. ["/usr/local/bin/supervisord"])`);
  return {
    feature,
    namespace,
    image,
    imagePullPolicy: pullPolicy(doc.imagePullPolicy, `${p}.imagePullPolicy`),
    command,
    args: strList(doc.args, `${p}.args`),
    env,
    mainProcess,
    resources: resources(doc.resources, `${p}.resources`),
    probes,
    hostNetwork,
    ports,
    mounts,
    sidecar,
    apiServer,
    redisSocketDir: str(doc, 'redisSocketDir', p) ?? REDIS_SOCKET_DIR,
    sync,
    memoryThreshold,
    fallbackSeconds: int(doc.fallbackSeconds, `${p}.fallbackSeconds`, 0, 86_400, DEFAULT_FALLBACK_SECONDS),
    host,
    rollout: rollout(doc.rollout, `${p}.rollout`),
    nodeSelector: nodeSelector(doc.nodeSelector, `${p}.nodeSelector`),
  };
}

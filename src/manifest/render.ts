// FeatureSpec -> the Kubernetes objects that run a feature, pure (the same spec always renders the
// same objects):
//   renderFeature  the feature's DaemonSet: the feature container with requests/limits and probes,
//                  its command wrapped so it waits while the unit holds it or a native container
//                  may run (host-side files, no Docker socket in the pod); in the seed's shape
//                  (sync: sidecar) also the FEATURE sync sidecar with its ServiceAccount and RBAC
//   renderAgent    the per-node agent (sync: agent, the default): one small DaemonSet that keeps
//                  FEATURE and the units of every migrated feature on its node
import type { KubernetesObject } from '@kubernetes/client-node';
import { FEATURE_POD_LABEL, featureContainerName, MANAGED_BY, optInLabel, VERSION_ANNOTATION } from '../kube/ids.js';
import {
  HOLD_MOUNT,
  HOST_MOUNT,
  IN_CLUSTER_DIR,
  IMAGE_AGENT_BUNDLE,
  RUN_DIR,
  STATE_DIR,
  SYNC_READY_FILE,
  SYSLOG_SOCKET,
  UNIT_DIR,
  UNIT_STATE_DIR,
} from '../sonic/paths.js';
import { NATIVE_MARK_SUFFIX } from '../host/hold.js';
import type { Obj } from '../util/json.js';
import { type FeatureSpec, type ProbeSpec, type Resources, objectName } from './spec.js';

export { MANAGED_BY };

/** The agent's objects are named after it; one agent per cluster namespace serves every feature. */
export const AGENT_NAME = 'kubesonic-agent';

function k8sProbe(p: ProbeSpec | undefined): Obj | undefined {
  if (!p) return undefined;
  const handler: Obj = p.exec
    ? { exec: { command: p.exec } }
    : p.httpGet
      ? { httpGet: { path: p.httpGet.path, port: p.httpGet.port, host: '127.0.0.1' } }
      : { tcpSocket: { port: p.tcpPort } };
  return {
    ...handler,
    initialDelaySeconds: p.initialDelaySeconds,
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    failureThreshold: p.failureThreshold,
  };
}

/**
 * The feature container's command, so that it honours the host-side hold and the native marker
 * (host/hold.ts): while HOLD_MOUNT/<f> (the unit stopped it) or HOLD_MOUNT/<f>.native (a native Docker
 * container of it may run on this host) exists the container waits in a shell and no daemon runs —
 * whatever the kubelet restarts, with or without the API server; once both are gone the feature's own
 * command replaces the shell (exec: same pid 1, same signals). The host side (root anyway) does the
 * Docker work and sets the files: no container of the pod mounts the Docker socket. The image needs
 * /bin/sh, as SONiC's images have.
 */
export function holdWrapped(feature: string, command: readonly string[]): string[] {
  const script =
    `h=${HOLD_MOUNT}/${feature}; n=$h${NATIVE_MARK_SUFFIX}; said=; ` +
    'while [ -e "$h" ] || [ -e "$n" ]; do ' +
    `if [ -e "$h" ]; then w=h; l="kubesonic: ${feature} is stopped by its unit on this switch; waiting for systemctl start ${feature}"; ` +
    `else w=n; l="kubesonic: a native ${feature} container may run on this switch; waiting until the host side finds none"; fi; ` +
    '[ "$said" = "$w" ] || echo "$l"; said=$w; sleep 1; done; exec "$@"';
  return ['/bin/sh', '-c', script, feature, ...command];
}

/**
 * An exec liveness/startup probe passes while the feature is held or natively marked: a waiting
 * feature is stopped, not broken.
 */
function holdAwareProbe(feature: string, p: ProbeSpec | undefined): ProbeSpec | undefined {
  if (!p?.exec) return p;
  const h = `${HOLD_MOUNT}/${feature}`;
  return { ...p, exec: ['/bin/sh', '-c', '[ -e "$0" ] || [ -e "$0' + NATIVE_MARK_SUFFIX + '" ] || exec "$@"', h, ...p.exec] };
}

function k8sResources(r: Resources): Obj {
  const out: Obj = {};
  if (Object.keys(r.requests).length) out.requests = r.requests;
  if (Object.keys(r.limits).length) out.limits = r.limits;
  return out;
}

function defined(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function syncServiceAccountName(spec: FeatureSpec): string {
  return `${objectName(spec.feature)}-kubesonic`;
}

// Root only for file ownership on the host paths it manages (unit drop-ins, the unit state files);
// no capabilities, no privilege escalation, read-only image. No hostPID, no nsenter.
const KUBESONIC_SECURITY = { runAsUser: 0, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };

/** Where pods on the host network reach the apiserver when the node has no kube-proxy. */
function apiServerEnv(spec: FeatureSpec): Obj[] {
  return spec.apiServer
    ? [
        { name: 'KUBERNETES_SERVICE_HOST', value: spec.apiServer.host },
        { name: 'KUBERNETES_SERVICE_PORT', value: String(spec.apiServer.port) },
      ]
    : [];
}

/**
 * The sync container's own token (the seed's sidecar shape): what the kubelet's automount gives, but
 * mounted into that container alone — a projected ServiceAccount token for the API server's own
 * audience, an hour long (the kubelet renews it), with the cluster CA and the namespace beside it.
 */
const SYNC_TOKEN_VOLUME = {
  name: 'kubesonic-sync-token',
  projected: {
    sources: [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ],
  },
};

/** The env and host mounts every FEATURE syncer (agent or sidecar) has. */
function syncerBase(spec: FeatureSpec, dropInDirs: readonly string[]) {
  const env: Obj[] = [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'KUBESONIC_REDIS_SOCKET', value: `${spec.redisSocketDir}/redis.sock` },
    { name: 'KUBESONIC_HOST_ROOT', value: HOST_MOUNT },
    ...apiServerEnv(spec),
  ];
  const mounts: Obj[] = [
    { name: 'kubesonic-redis', mountPath: spec.redisSocketDir },
    { name: 'kubesonic-state', mountPath: `${HOST_MOUNT}${STATE_DIR}` },
    { name: 'kubesonic-run', mountPath: RUN_DIR },
    { name: 'kubesonic-tmp', mountPath: '/tmp' },
    ...dropInDirs.map((f, i) => ({ name: `kubesonic-units-${i}`, mountPath: `${HOST_MOUNT}${UNIT_DIR}/${f}.service.d` })),
  ];
  const volumes: Obj[] = [
    { name: 'kubesonic-tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: 'kubesonic-redis', hostPath: { path: spec.redisSocketDir, type: 'DirectoryOrCreate' } },
    { name: 'kubesonic-state', hostPath: { path: spec.host.stateDir, type: 'DirectoryOrCreate' } },
    { name: 'kubesonic-run', hostPath: { path: spec.host.runDir, type: 'DirectoryOrCreate' } },
    // Only the served features' drop-in directories: no other unit is reachable.
    ...dropInDirs.map((f, i) => ({
      name: `kubesonic-units-${i}`,
      hostPath: { path: `${spec.host.unitDir}/${f}.service.d`, type: 'DirectoryOrCreate' },
    })),
  ];
  if (spec.host.syslogSocket) {
    // The switch's syslog, for the OOM-kill lines (`logger` writes to /dev/log). Socket: the pod does
    // not start on a host without one rather than log into a directory the kubelet made up.
    mounts.push({ name: 'kubesonic-syslog', mountPath: SYSLOG_SOCKET });
    volumes.push({ name: 'kubesonic-syslog', hostPath: { path: spec.host.syslogSocket, type: 'Socket' } });
  }
  return { env, mounts, volumes };
}

/** What a syncer may read: its feature pods in the namespace, and the nodes (for the disable taints). */
function readerRbac(name: string, ns: string, labels: Record<string, string>): KubernetesObject[] {
  const cluster = `kubesonic:${ns}:${name}`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: ns, labels },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: cluster, labels },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: cluster, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: cluster },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    } as KubernetesObject,
  ];
}

/** The spec's rollout as a DaemonSet updateStrategy (RollingUpdate, one switch at a time, unless it says otherwise). */
export function updateStrategy(spec: Pick<FeatureSpec, 'rollout'>): Obj {
  return spec.rollout.strategy === 'OnDelete'
    ? { type: 'OnDelete' }
    : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: spec.rollout.maxUnavailable } };
}

export function renderFeature(spec: FeatureSpec): KubernetesObject[] {
  if (spec.command.length === 0)
    throw new Error(`${spec.feature}: the spec needs \`command\` (the image's entrypoint): the host-side hold wraps it`);
  const name = objectName(spec.feature);
  const labels = { app: spec.feature, raw_container_name: spec.feature, ...MANAGED_BY };
  const podLabels = { ...labels, [FEATURE_POD_LABEL]: 'feature' };
  const ns = spec.namespace;
  const objects: KubernetesObject[] = [];
  const sidecar = spec.sync === 'sidecar' ? spec.sidecar : undefined;
  const withSidecar = sidecar !== undefined;

  const featureContainer = defined({
    name: featureContainerName(spec.feature),
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    command: holdWrapped(spec.feature, spec.command),
    args: spec.args.length ? spec.args : undefined,
    env: Object.entries(spec.env).map(([k, v]) => ({ name: k, value: v })),
    resources: k8sResources(spec.resources),
    ports: spec.ports.length
      ? spec.ports.map((p) => defined({ containerPort: p.containerPort, name: p.name, protocol: p.protocol }))
      : undefined,
    livenessProbe: k8sProbe(holdAwareProbe(spec.feature, spec.probes.liveness)),
    // Not ready while held: it serves nothing.
    readinessProbe: k8sProbe(spec.probes.readiness),
    startupProbe: k8sProbe(holdAwareProbe(spec.feature, spec.probes.startup)),
    volumeMounts: [
      ...spec.mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.readOnly })),
      { name: 'kubesonic-hold', mountPath: HOLD_MOUNT, readOnly: true },
    ],
  });

  const volumes: Obj[] = spec.mounts.map((m) => ({ name: m.name, hostPath: defined({ path: m.hostPath, type: m.type }) }));
  volumes.push({ name: 'kubesonic-hold', hostPath: { path: `${spec.host.stateDir}/hold`, type: 'DirectoryOrCreate' } });
  const containers: Obj[] = [featureContainer];

  if (sidecar) {
    // The seed's per-feature sidecar shape: the sync container next to the feature, with its own
    // read-only identity. No pod of either shape mounts Docker: the host side does the Docker work
    // (the native marker stands for the seed's gate, `kubesonic systemd <f> start` does v2's clean-up).
    const base = syncerBase(spec, [spec.feature]);
    volumes.push(...base.volumes, SYNC_TOKEN_VOLUME);
    containers.push({
      name: `${name}-sync`,
      image: sidecar.image,
      imagePullPolicy: sidecar.imagePullPolicy,
      command: ['node', IMAGE_AGENT_BUNDLE, '--only', spec.feature, '--unit-state-dir', UNIT_STATE_DIR],
      env: [...base.env, { name: 'KUBESONIC_MIGRATION_VERSION', value: sidecar.version }],
      resources: k8sResources(sidecar.resources),
      volumeMounts: [...base.mounts, { name: SYNC_TOKEN_VOLUME.name, mountPath: IN_CLUSTER_DIR, readOnly: true }],
      readinessProbe: { exec: { command: ['test', '-f', SYNC_READY_FILE] }, periodSeconds: 5 },
      securityContext: KUBESONIC_SECURITY,
    });
    objects.push(...readerRbac(syncServiceAccountName(spec), ns, labels));
  }

  objects.push({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: ns, labels },
    spec: {
      selector: { matchLabels: { app: spec.feature } },
      updateStrategy: updateStrategy(spec),
      template: {
        // The agent reads the version the host side follows from the pod it watches.
        metadata: { labels: podLabels, annotations: spec.sidecar ? { [VERSION_ANNOTATION]: spec.sidecar.version } : undefined },
        spec: defined({
          hostNetwork: spec.hostNetwork,
          dnsPolicy: spec.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
          // Only nodes that opted in (their switch's `kubesonic migrate`), and of those the spec's targets.
          nodeSelector: { [optInLabel(spec.feature).key]: optInLabel(spec.feature).value, ...spec.nodeSelector },
          serviceAccountName: withSidecar ? syncServiceAccountName(spec) : undefined,
          // Never the kubelet's automount: it would put the token in every container, the feature's
          // too. Only the seed's sync container talks to the API server: it alone mounts its own.
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 30,
          containers,
          volumes,
        }),
      },
    },
  } as KubernetesObject);
  return objects;
}

/**
 * The per-node agent for `features` (one process per node, every feature): its ServiceAccount and
 * read-only RBAC, and a DaemonSet that tolerates every taint — the features' disable taints above
 * all — and mounts only the served features' drop-in directories. Host layout, image and API
 * address come from `base` (any feature's spec: they are the node's, not the feature's).
 */
export function renderAgent(base: FeatureSpec, features: readonly string[]): KubernetesObject[] {
  if (!base.sidecar) throw new Error(`${base.feature}: the agent needs the spec's sidecar block (image, resources)`);
  const ns = base.namespace;
  const labels = { app: AGENT_NAME, ...MANAGED_BY };
  const sorted = [...new Set(features)].sort();
  const syncer = syncerBase(base, sorted);
  const daemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: AGENT_NAME, namespace: ns, labels },
    spec: {
      selector: { matchLabels: { app: AGENT_NAME } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: defined({
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          serviceAccountName: AGENT_NAME,
          // Only on nodes opted in to at least one served feature (the terms are ORed).
          affinity: sorted.length
            ? {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: sorted.map((f) => ({
                      matchExpressions: [{ key: optInLabel(f).key, operator: 'In', values: [optInLabel(f).value] }],
                    })),
                  },
                },
              }
            : undefined,
          // A node agent: it must run where a feature is disabled by its taint, to say so.
          tolerations: [{ operator: 'Exists' }],
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: 'agent',
              image: base.sidecar.image,
              imagePullPolicy: base.sidecar.imagePullPolicy,
              command: ['node', IMAGE_AGENT_BUNDLE, ...sorted.flatMap((f) => ['--feature', f]), '--unit-state-dir', UNIT_STATE_DIR],
              env: syncer.env,
              resources: k8sResources(base.sidecar.resources),
              volumeMounts: syncer.mounts,
              readinessProbe: { exec: { command: ['test', '-f', SYNC_READY_FILE] }, periodSeconds: 5 },
              securityContext: KUBESONIC_SECURITY,
            },
          ],
          volumes: syncer.volumes,
        }),
      },
    },
  } as KubernetesObject;
  return [...readerRbac(AGENT_NAME, ns, labels), daemonSet];
}

/** The features an applied agent DaemonSet serves (its --feature arguments). */
export function agentFeatures(daemonSet: KubernetesObject | undefined): string[] {
  const spec = (daemonSet as { spec?: { template?: { spec?: { containers?: { command?: string[] }[] } } } } | undefined)?.spec;
  const command = spec?.template?.spec?.containers?.[0]?.command ?? [];
  return command.flatMap((arg, i) => (command[i - 1] === '--feature' ? [arg] : []));
}

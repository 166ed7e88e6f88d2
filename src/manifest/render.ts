// FeatureSpec -> the Kubernetes objects that run a feature: ServiceAccount and RBAC for its sync
// sidecar, and the DaemonSet (feature container with requests/limits and probes, a gate init
// container that keeps the pod from starting while the native container runs, and the FEATURE sync
// sidecar). Pure: the same spec always renders the same objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import { type FeatureSpec, type ProbeSpec, type Resources, objectName } from './spec.js';
import { DOCKER_SOCKET, HOST_MOUNT, IMAGE_BUNDLE, STATE_DIR, SYNC_READY_FILE, UNIT_DIR } from '../sonic/paths.js';
import type { Obj } from '../util/json.js';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubesonic' };

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

export function renderFeature(spec: FeatureSpec): KubernetesObject[] {
  const name = objectName(spec.feature);
  const labels = { app: spec.feature, raw_container_name: spec.feature, ...MANAGED_BY };
  const ns = spec.namespace;
  const objects: KubernetesObject[] = [];
  const sa = syncServiceAccountName(spec);

  const featureContainer = defined({
    name: spec.feature.replace(/_/g, '-'),
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    command: spec.command.length ? spec.command : undefined,
    args: spec.args.length ? spec.args : undefined,
    env: Object.entries(spec.env).map(([k, v]) => ({ name: k, value: v })),
    resources: k8sResources(spec.resources),
    ports: spec.ports.length
      ? spec.ports.map((p) => defined({ containerPort: p.containerPort, name: p.name, protocol: p.protocol }))
      : undefined,
    livenessProbe: k8sProbe(spec.probes.liveness),
    readinessProbe: k8sProbe(spec.probes.readiness),
    startupProbe: k8sProbe(spec.probes.startup),
    volumeMounts: spec.mounts.length ? spec.mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.readOnly })) : undefined,
  });

  const volumes: Obj[] = spec.mounts.map((m) => ({ name: m.name, hostPath: defined({ path: m.hostPath, type: m.type }) }));
  const containers: Obj[] = [featureContainer];
  const initContainers: Obj[] = [];

  if (spec.sidecar) {
    const env = [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'KUBESONIC_MIGRATION_VERSION', value: spec.sidecar.version },
      { name: 'KUBESONIC_REDIS_SOCKET', value: `${spec.redisSocketDir}/redis.sock` },
      { name: 'KUBESONIC_HOST_ROOT', value: HOST_MOUNT },
      { name: 'DOCKER_HOST', value: spec.host.dockerSocket ? `unix://${DOCKER_SOCKET}` : 'unix:///nonexistent/docker.sock' },
      ...(spec.apiServer
        ? [
            { name: 'KUBERNETES_SERVICE_HOST', value: spec.apiServer.host },
            { name: 'KUBERNETES_SERVICE_PORT', value: String(spec.apiServer.port) },
          ]
        : []),
    ];
    const hostMounts = [
      { name: 'kubesonic-redis', mountPath: spec.redisSocketDir },
      { name: 'kubesonic-state', mountPath: `${HOST_MOUNT}${STATE_DIR}` },
      { name: 'kubesonic-units', mountPath: `${HOST_MOUNT}${UNIT_DIR}/${spec.feature}.service.d` },
      ...(spec.host.dockerSocket ? [{ name: 'kubesonic-docker', mountPath: DOCKER_SOCKET }] : []),
    ];
    volumes.push(
      { name: 'kubesonic-tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      { name: 'kubesonic-redis', hostPath: { path: spec.redisSocketDir, type: 'DirectoryOrCreate' } },
      { name: 'kubesonic-state', hostPath: { path: spec.host.stateDir, type: 'DirectoryOrCreate' } },
      // Only this feature's drop-in directory: the sidecar cannot reach any other unit.
      { name: 'kubesonic-units', hostPath: { path: `${spec.host.unitDir}/${spec.feature}.service.d`, type: 'DirectoryOrCreate' } },
      // type Socket: with type "" the kubelet would create a directory where dockerd's socket goes.
      ...(spec.host.dockerSocket ? [{ name: 'kubesonic-docker', hostPath: { path: spec.host.dockerSocket, type: 'Socket' } }] : []),
    );
    const kubesonic = ['node', IMAGE_BUNDLE];
    // Inside the pod the host paths are always SONiC's; the hostPath volumes map them to spec.host.
    // Root only for file ownership on the host paths it manages (unit drop-ins, the Docker socket);
    // no capabilities, no privilege escalation, read-only image. No hostPID, no nsenter.
    const securityContext = {
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    };
    // The feature must never run next to its native container: the gate waits until the
    // native one is gone before the pod's feature container may start.
    initContainers.push({
      name: 'gate',
      image: spec.sidecar.image,
      imagePullPolicy: spec.sidecar.imagePullPolicy,
      command: [...kubesonic, 'gate', spec.feature, '--timeout', '300'],
      env,
      volumeMounts: spec.host.dockerSocket ? [{ name: 'kubesonic-docker', mountPath: DOCKER_SOCKET }] : [],
      resources: k8sResources(spec.sidecar.resources),
      securityContext,
    });
    containers.push({
      name: `${name}-sync`,
      image: spec.sidecar.image,
      imagePullPolicy: spec.sidecar.imagePullPolicy,
      command: [...kubesonic, 'sync', spec.feature],
      env,
      resources: k8sResources(spec.sidecar.resources),
      volumeMounts: [...hostMounts, { name: 'kubesonic-tmp', mountPath: '/tmp' }],
      readinessProbe: { exec: { command: ['test', '-f', SYNC_READY_FILE] }, periodSeconds: 5 },
      securityContext,
    });
    objects.push(
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns, labels } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: sa, namespace: ns, labels },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: sa, namespace: ns, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `kubesonic:${ns}:${sa}`, labels },
        rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `kubesonic:${ns}:${sa}`, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `kubesonic:${ns}:${sa}` },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      } as KubernetesObject,
    );
  }

  objects.push({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: ns, labels },
    spec: {
      selector: { matchLabels: { app: spec.feature } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: defined({
          hostNetwork: spec.hostNetwork,
          dnsPolicy: spec.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
          serviceAccountName: spec.sidecar ? sa : undefined,
          automountServiceAccountToken: Boolean(spec.sidecar),
          terminationGracePeriodSeconds: 30,
          initContainers: initContainers.length ? initContainers : undefined,
          containers,
          volumes: volumes.length ? volumes : undefined,
        }),
      },
    },
  } as KubernetesObject);
  return objects;
}

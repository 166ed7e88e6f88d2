// Test helper API for the real single-node cluster (testbed/cluster.sh): brought up once per test
// run by the global setup, used here through @kubernetes/client-node.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { renderClusterAccess, renderSwitchAccess } from '../../src/manifest/access.js';
import { issueSwitchCredential } from '../../src/kube/switch-credential.js';
import { join } from 'node:path';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { clientNodeCluster, kubeClients, loadKubeConfig, type Kube } from '../../src/kube/client.js';
import { disableTaint, featurePods, podContainerRunning, setLabel, setTaint, type Cluster } from '../../src/kube/cluster.js';
import { optInLabel } from '../../src/kube/ids.js';
import { waitUntil } from '../../src/util/wait.js';
import { parseFeatureSpec, type FeatureSpec } from '../../src/manifest/spec.js';
import { renderAgent, renderFeature } from '../../src/manifest/render.js';

/** The node agent serving the feature, when the spec is in the agent shape. */
const agentOf = (spec: FeatureSpec) => (spec.sync === 'agent' && spec.sidecar ? renderAgent(spec, [spec.feature]) : []);
import { KUBESONIC, REPO, TEST_ROOT, mustRun, run } from './procs.js';

export const CLUSTER_SCRIPT = join(REPO, 'testbed', 'cluster.sh');

export interface ClusterEnv {
  KUBECONFIG: string;
  KUBESONIC_CONTAINERD_STATE: string;
  NODE_NAME: string;
}

export function clusterEnv(): ClusterEnv {
  const out: Record<string, string> = {};
  for (const line of mustRun('bash', [CLUSTER_SCRIPT, 'env']).trim().split('\n')) {
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out as unknown as ClusterEnv;
}

export const kubeconfigFor = (user: 'admin' | 'kubelet' | 'checker' | 'operator'): string =>
  join(clusterEnv().KUBECONFIG, '..', `${user}.kubeconfig`);

export function kube(user: 'admin' | 'kubelet' | 'checker' | 'operator' = 'admin'): Kube {
  return kubeClients(loadKubeConfig(kubeconfigFor(user), { inCluster: undefined, kubeconfigs: [] }));
}

/** The product's Cluster port over the same credentials. */
export const asCluster = (k: Kube): Cluster => clientNodeCluster(k);

/** This feature on the test node. */
export const onTestNode = (spec: FeatureSpec) => ({ feature: spec.feature, namespace: spec.namespace, node: clusterEnv().NODE_NAME });

export const stopComponent = (name: string): string => mustRun('bash', [CLUSTER_SCRIPT, 'stop', name]);
export const startComponent = (name: string): string => mustRun('bash', [CLUSTER_SCRIPT, 'start', name]);

export function testbedSpec(feature = 'bmp'): FeatureSpec {
  const file = join(REPO, 'testbed', 'features', `${feature}.yaml`);
  return parseFeatureSpec(readFileSync(file, 'utf8'), file);
}

/** The feature's objects applied and the test node opted in (what `cluster apply` and a switch's migrate do). */
export async function applyFeature(k: Kube, spec: FeatureSpec): Promise<KubernetesObject[]> {
  const objs = [...renderFeature(spec), ...agentOf(spec)];
  await asCluster(k).apply(objs);
  await setLabel(asCluster(k), clusterEnv().NODE_NAME, optInLabel(spec.feature), true);
  return objs;
}

export async function removeFeature(k: Kube, spec: FeatureSpec): Promise<void> {
  await setLabel(asCluster(k), clusterEnv().NODE_NAME, optInLabel(spec.feature), false);
  await asCluster(k).delete([...renderFeature(spec), ...agentOf(spec)]);
  await waitUntil(`${spec.feature} pods gone`, 90_000, async () =>
    (await featurePods(asCluster(k), onTestNode(spec))).length === 0 ? true : undefined,
  );
}

export async function waitFeatureRunning(k: Kube, spec: FeatureSpec, timeoutMs = 120_000, notPod?: string): Promise<V1Pod> {
  const node = clusterEnv().NODE_NAME;
  return waitUntil(`${spec.feature} pod running on ${node}`, timeoutMs, async () => {
    const pods = await featurePods(asCluster(k), { feature: spec.feature, namespace: spec.namespace, node });
    return pods.find((p) => p.metadata?.name !== notPod && podContainerRunning(p, spec.feature));
  });
}

/** The memory the stand-in feature process holds, via its control file on the host. */
export function setFeatureMiB(feature: string, mib: number): void {
  const dir = join(TEST_ROOT, 'feature-control', feature);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'alloc_mib'), String(mib));
}

export async function taintDisabled(k: Kube, feature: string, present: boolean): Promise<boolean> {
  return setTaint(asCluster(k), clusterEnv().NODE_NAME, disableTaint(feature), present);
}

export async function podWorkingSetFromMetrics(k: Kube, namespace: string, pod: string, container: string): Promise<number | undefined> {
  const { parseBytes } = await import('../../src/kube/quantity.js');
  const res = (await k.objects.read({
    apiVersion: 'metrics.k8s.io/v1beta1',
    kind: 'PodMetrics',
    metadata: { name: pod, namespace },
  })) as unknown as {
    containers?: { name: string; usage: { memory: string } }[];
  };
  const c = res.containers?.find((x) => x.name === container);
  return c ? parseBytes(c.usage.memory) : undefined;
}

/** The feature's pods on a node, through the product's Cluster port. */
export const podsOf = (k: Kube, feature: string, node = clusterEnv().NODE_NAME, namespace = 'sonic'): Promise<V1Pod[]> =>
  featurePods(asCluster(k), { feature, namespace, node });

const clusterSideArgs = (action: 'apply' | 'remove', feature: string, specFile: string, extra: string[]) => [
  KUBESONIC,
  'cluster',
  action,
  feature,
  '--spec',
  specFile,
  '--kubeconfig',
  kubeconfigFor('admin'),
  ...extra,
];

/** A cluster admin's `kubesonic cluster apply|remove <f>` (what a switch's migrate needs first). */
export function clusterSide(action: 'apply' | 'remove', feature: string, specFile: string, ...extra: string[]): string {
  return mustRun('node', clusterSideArgs(action, feature, specFile, extra));
}

/** A test file's clean-up: the feature off the fleet whatever state it is in; a failure is said, not thrown. */
export function removeClusterSide(feature: string, specFile: string): void {
  const r = run('node', clusterSideArgs('remove', feature, specFile, ['--force']));
  if (r.code !== 0) process.stderr.write(`[clean-up] kubesonic cluster remove ${feature} exited ${r.code}: ${r.stderr.trim()}\n`);
}

/**
 * The test switch's own identity, as docs/fleet.md has an admin issue it: the shared switch access
 * and this node's (applied idempotently), and a one-hour token. Returns the kubeconfig's text.
 */
export async function switchKubeconfigText(node = clusterEnv().NODE_NAME): Promise<string> {
  const admin = kube('admin');
  const objs = [...renderClusterAccess(), ...renderSwitchAccess(node)].filter(
    (o) => !(o.kind === 'Namespace' && o.metadata?.name === 'sonic'),
  );
  await asCluster(admin).apply(objs);
  return (await issueSwitchCredential(admin, node, 3600)).kubeconfig;
}

/** Install the switch's identity as the test switch's kubeconfig (root-only, as the tools require). */
export async function installSwitchKubeconfig(root: string, path = 'etc/sonic/kubesonic/kubeconfig'): Promise<void> {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), await switchKubeconfigText(), { mode: 0o600 });
  chmodSync(join(root, path), 0o600);
}

/** kubesonic's pods in `namespace` that no existing DaemonSet controls (none named, or not that uid). */
async function podsWithoutTheirDaemonSet(k: Kube, namespace: string): Promise<V1Pod[]> {
  const pods = (await k.core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/managed-by=kubesonic' })).items;
  const sets = new Map((await k.apps.listNamespacedDaemonSet({ namespace })).items.map((d) => [d.metadata?.name, d.metadata?.uid]));
  return pods.filter((p) => {
    const owner = p.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'DaemonSet');
    return !p.metadata?.deletionTimestamp && (owner === undefined || sets.get(owner.name) !== owner.uid);
  });
}

/**
 * The files share one cluster, and several stop and restart its API server. A controller manager
 * that lived through such restarts with stale caches (testbed/cluster.sh now restarts it) was seen
 * to leave an agent pod running 18 minutes after its DaemonSet and ServiceAccount were deleted — 401
 * on every request, and the next file's setup waited on it. Each file starts without such pods: the
 * garbage collector gets `graceMs` to take them, then they are deleted here, and said.
 */
export async function reapPodsWithoutDaemonSet(k: Kube, namespace = 'sonic', graceMs = 30_000): Promise<void> {
  const deadline = Date.now() + graceMs;
  let left = await podsWithoutTheirDaemonSet(k, namespace);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    left = await podsWithoutTheirDaemonSet(k, namespace);
  }
  for (const p of left) {
    const name = p.metadata!.name!;
    const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
    const of = owner ? `its DaemonSet ${owner.name} (uid ${owner.uid})` : 'its DaemonSet (no controller left on it)';
    process.stderr.write(
      `[clean-up] pod ${namespace}/${name} outlived ${of} by ${graceMs / 1000} s: deleting it (the garbage collector had not)\n`,
    );
    await k.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

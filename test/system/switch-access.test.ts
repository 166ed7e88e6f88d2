// A switch's own identity on the real API server (docs/fleet.md): switch A (the testbed's node) gets a
// TokenRequest token for its ServiceAccount, the rendered RBAC and admission policies are applied
// with the admin kubeconfig, and every request A makes is answered by the server itself. Node B is
// a plain Node object (no kubelet); its pod stays Pending, which is all a delete test needs.
import { request } from 'node:https';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeClients, loadKubeConfig } from '../../src/kube/client.js';
import { disableTaint, hasTaint, setTaint, stopTaint } from '../../src/kube/cluster.js';
import { optInLabel } from '../../src/kube/ids.js';
import { credentialsFromKubeconfig, type ApiCredentials } from '../../src/kube/kubeconfig.js';
import { issueSwitchCredential } from '../../src/kube/switch-credential.js';
import { NODE_POLICY, POD_POLICY, renderClusterAccess, renderSwitchAccess, SWITCH_NAMESPACE } from '../../src/manifest/access.js';
import { waitUntil } from '../../src/util/wait.js';
import { asCluster, clusterEnv, kube } from '../helpers/cluster.js';
import { TEST_ROOT } from '../helpers/procs.js';

const admin = kube('admin');
const A = clusterEnv().NODE_NAME;
const B = 'b';
const NS = 'sonic';
const podOn = (node: string) => `switch-access-on-${node}`;
// Everything applied here except the namespace `sonic`, which the testbed owns.
const applied: KubernetesObject[] = [...renderClusterAccess(), ...renderSwitchAccess(A), ...renderSwitchAccess(B)].filter(
  (o) => !(o.kind === 'Namespace' && o.metadata?.name === NS),
);

let creds: ApiCredentials;
let kubeconfigA: string;

interface Answer {
  status: number;
  message: string;
}

/** One request as switch A, raw: the status code is the server's, not a client library's reading of it. */
function asA(method: string, path: string, body?: unknown, contentType = 'application/merge-patch+json'): Promise<Answer> {
  const url = new URL(path, creds.server);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: creds.ca,
        headers: {
          authorization: `Bearer ${creds.token}`,
          accept: 'application/json',
          ...(data ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          let message = '';
          try {
            message = String((JSON.parse(text) as { message?: unknown }).message ?? '');
          } catch {
            message = text.slice(0, 200);
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const plainPod = (name: string, node: string): V1Pod => ({
  metadata: { name, namespace: NS, labels: { test: 'switch-access' } },
  // An image that can never be pulled: on A the kubelet just keeps failing to pull it, and B has no kubelet.
  spec: { nodeName: node, containers: [{ name: 'x', image: 'registry.invalid/none:0' }], terminationGracePeriodSeconds: 0 },
});

async function forceDelete(name: string): Promise<void> {
  await admin.core.deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
}

async function cleanNodeA(): Promise<void> {
  const c = asCluster(admin);
  await setTaint(c, A, disableTaint('bmp'), false);
  await setTaint(c, A, stopTaint('bmp'), false);
  const label = optInLabel('bmp').key;
  await admin.core
    .patchNode(
      { name: A, body: [{ op: 'remove', path: `/metadata/labels/${label.replace('/', '~1')}` }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )
    .catch(() => undefined);
}

beforeAll(async () => {
  await cleanNodeA();
  await asCluster(admin).apply(applied);
  await admin.core.createNode({ body: { metadata: { name: B } } }).catch((e) => {
    if ((e as { code?: number }).code !== 409) throw e;
  });
  for (const node of [A, B]) {
    await forceDelete(podOn(node));
    await admin.core.createNamespacedPod({ namespace: NS, body: plainPod(podOn(node), node) });
  }
  const issued = await issueSwitchCredential(admin, A, 3600);
  // The switch's file as it would be installed: root-only, else every kubesonic tool refuses it.
  const dir = join(TEST_ROOT, 'switch-access');
  mkdirSync(dir, { recursive: true });
  kubeconfigA = join(dir, 'switch.kubeconfig');
  writeFileSync(kubeconfigA, issued.kubeconfig, { mode: 0o600 });
  creds = await credentialsFromKubeconfig(issued.kubeconfig, kubeconfigA);
  // A policy reaches the admission plugin a moment after it is stored: wait (with a dry run, which
  // is admitted exactly like the real thing and changes nothing) until it denies.
  await waitUntil('the node policy to be in force', 60_000, async () => {
    const r = await asA('PATCH', `/api/v1/nodes/${A}?dryRun=All`, { metadata: { labels: { 'example.com/x': 'y' } } });
    return r.status === 403 ? true : undefined;
  });
  await waitUntil('the pod policy to be in force', 60_000, async () => {
    const r = await asA('DELETE', `/api/v1/namespaces/${NS}/pods/${podOn(B)}?dryRun=All`);
    return r.status === 403 ? true : undefined;
  });
}, 180_000);

afterAll(async () => {
  await cleanNodeA();
  for (const node of [A, B]) await forceDelete(podOn(node));
  // The testbed runs no pod GC controller: pods a DaemonSet put on B would outlive B.
  const onB = await admin.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${B}` });
  for (const p of onB.items)
    await admin.core
      .deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, gracePeriodSeconds: 0 })
      .catch(() => undefined);
  await admin.core.deleteNode({ name: B }).catch(() => undefined);
  await asCluster(admin).delete(applied);
  // Its ServiceAccount is gone, so the token is dead; the file goes too.
  rmSync(kubeconfigA, { force: true });
  await waitUntil(`namespace ${SWITCH_NAMESPACE} gone`, 90_000, async () =>
    (await asCluster(admin).exists({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SWITCH_NAMESPACE } })) ? undefined : true,
  );
}, 180_000);

const taintsPatch = (taints: object[]) => ({ spec: { taints } });

describe("switch A's identity: denied by the API server (403)", () => {
  it.each([
    ['taint node B', 'PATCH', `/api/v1/nodes/${B}`, taintsPatch([{ key: 'bmp', value: 'disabled', effect: 'NoSchedule' }]), 'RBAC'],
    ['label node B', 'PATCH', `/api/v1/nodes/${B}`, { metadata: { labels: { 'kubesonic.sonic-net.github.io/bmp': 'enabled' } } }, 'RBAC'],
    ['read node B', 'GET', `/api/v1/nodes/${B}`, undefined, 'RBAC'],
    [
      'label its own node with an unrelated label',
      'PATCH',
      `/api/v1/nodes/${A}`,
      { metadata: { labels: { 'example.com/x': 'y' } } },
      NODE_POLICY,
    ],
    [
      "label its own node with kubesonic's key but another value",
      'PATCH',
      `/api/v1/nodes/${A}`,
      { metadata: { labels: { 'kubesonic.sonic-net.github.io/bmp': 'yes' } } },
      NODE_POLICY,
    ],
    ['cordon its own node', 'PATCH', `/api/v1/nodes/${A}`, { spec: { unschedulable: true } }, NODE_POLICY],
    ['annotate its own node', 'PATCH', `/api/v1/nodes/${A}`, { metadata: { annotations: { 'example.com/x': 'y' } } }, NODE_POLICY],
    [
      'taint its own node with a foreign taint',
      'PATCH',
      `/api/v1/nodes/${A}`,
      taintsPatch([{ key: 'example.com/x', effect: 'NoExecute' }]),
      NODE_POLICY,
    ],
    [
      'taint its own node with a feature taint of another effect',
      'PATCH',
      `/api/v1/nodes/${A}`,
      taintsPatch([{ key: 'bmp', value: 'disabled', effect: 'NoExecute' }]),
      NODE_POLICY,
    ],
    ['delete its own node', 'DELETE', `/api/v1/nodes/${A}`, undefined, 'RBAC'],
    ['create a node', 'POST', '/api/v1/nodes', { metadata: { name: 'c' } }, 'RBAC'],
    ['create a DaemonSet', 'POST', `/apis/apps/v1/namespaces/${NS}/daemonsets`, { metadata: { name: 'x' }, spec: {} }, 'RBAC'],
    [
      'patch a DaemonSet',
      'PATCH',
      `/apis/apps/v1/namespaces/${NS}/daemonsets/bmp`,
      { spec: { template: { spec: { hostPID: true } } } },
      'RBAC',
    ],
    ['read a Secret', 'GET', `/api/v1/namespaces/${NS}/secrets/x`, undefined, 'RBAC'],
    ['list Secrets in kube-system', 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, 'RBAC'],
    ['delete a ClusterRole', 'DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/kubesonic:switch:${B}`, undefined, 'RBAC'],
    ['create a ClusterRoleBinding', 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { metadata: { name: 'x' } }, 'RBAC'],
    ['create a pod', 'POST', `/api/v1/namespaces/${NS}/pods`, plainPod('x', A), 'RBAC'],
    ['delete all pods at once', 'DELETE', `/api/v1/namespaces/${NS}/pods`, undefined, 'RBAC'],
    ['delete a pod on node B', 'DELETE', `/api/v1/namespaces/${NS}/pods/${podOn(B)}`, undefined, POD_POLICY],
    ['read pods in kube-system', 'GET', '/api/v1/namespaces/kube-system/pods', undefined, 'RBAC'],
  ])('%s: 403', async (_what, method, path, body, by) => {
    const r = await asA(method, path, body);
    expect(r.status).toBe(403);
    // Which layer said no: RBAC's "cannot <verb>", or the named policy.
    if (by === 'RBAC') expect(r.message).toMatch(/cannot /);
    else expect(r.message).toContain(`ValidatingAdmissionPolicy '${by}'`);
  });

  it('left node B, its pod and node A as they were', async () => {
    const b = await admin.core.readNode({ name: B });
    // Only the node lifecycle controller's own taints (B has no kubelet: not-ready/unreachable), none of A's doing.
    expect((b.spec?.taints ?? []).filter((t) => !t.key.startsWith('node.kubernetes.io/'))).toEqual([]);
    expect(Object.keys(b.metadata?.labels ?? {}).filter((k) => k.startsWith('kubesonic'))).toEqual([]);
    expect((await admin.core.readNamespacedPod({ name: podOn(B), namespace: NS })).metadata?.deletionTimestamp).toBeUndefined();
    const a = await admin.core.readNode({ name: A });
    expect(a.metadata?.labels?.['example.com/x']).toBeUndefined();
    expect(a.spec?.unschedulable).toBeFalsy();
  });
});

describe("switch A's identity: allowed", () => {
  it('reads its own node and the pods in sonic', async () => {
    expect((await asA('GET', `/api/v1/nodes/${A}`)).status).toBe(200);
    expect((await asA('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=spec.nodeName%3D${A}`)).status).toBe(200);
    expect((await asA('GET', `/api/v1/nodes?fieldSelector=metadata.name%3D${A}`)).status).toBe(200);
  });

  it("taints its own node with bmp=disabled:NoSchedule and the stop taint, and takes them off again (kubesonic's own code)", async () => {
    // The product's taint path (JSON patch guarded by resourceVersion) with the switch's kubeconfig.
    const asSwitch = asCluster(kubeClients(loadKubeConfig(kubeconfigA, { inCluster: undefined, kubeconfigs: [] })));
    expect(await setTaint(asSwitch, A, disableTaint('bmp'), true)).toBe(true);
    expect(await setTaint(asSwitch, A, stopTaint('bmp'), true)).toBe(true);
    const node = await admin.core.readNode({ name: A });
    expect(hasTaint(node, disableTaint('bmp')) && hasTaint(node, stopTaint('bmp'))).toBe(true);
    expect(await setTaint(asSwitch, A, disableTaint('bmp'), false)).toBe(true);
    expect(await setTaint(asSwitch, A, stopTaint('bmp'), false)).toBe(true);
    expect(hasTaint(await admin.core.readNode({ name: A }), disableTaint('bmp'))).toBe(false);
  });

  it('labels its own node with the bmp opt-in label, and removes it', async () => {
    const { key, value } = optInLabel('bmp');
    const on = await asA('PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { [key]: value } } });
    expect(on).toMatchObject({ status: 200 });
    expect((await admin.core.readNode({ name: A })).metadata?.labels?.[key]).toBe('enabled');
    expect((await asA('PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { [key]: null } } })).status).toBe(200);
    expect((await admin.core.readNode({ name: A })).metadata?.labels?.[key]).toBeUndefined();
  });

  it('deletes a pod on its own node', async () => {
    expect((await asA('DELETE', `/api/v1/namespaces/${NS}/pods/${podOn(A)}?gracePeriodSeconds=0`)).status).toBe(200);
  });
});

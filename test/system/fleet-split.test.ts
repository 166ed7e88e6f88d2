// The cluster side and the switch side on the real API server (docs/fleet.md): a cluster admin's
// `kubesonic cluster apply` puts the DaemonSet on the fleet; each switch, with its own token, opts
// only its own node in and out; a second node (a Node object without a kubelet, as a switch that is
// not this one) keeps its pod and label whatever this switch does; `cluster remove` is refused
// while a node is opted in. The switch side's refusals (no cluster side, another switch's token)
// change nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientNodeCluster, kubeClients, loadKubeConfig } from '../../src/kube/client.js';
import { setLabel, type Cluster } from '../../src/kube/cluster.js';
import { optInLabel } from '../../src/kube/ids.js';
import { waitUntil } from '../../src/util/wait.js';
import {
  asCluster,
  clusterEnv,
  clusterSide,
  removeClusterSide,
  kube,
  kubeconfigFor,
  podsOf,
  switchKubeconfigText,
} from '../helpers/cluster.js';
import { KUBESONIC, run, TEST_ROOT } from '../helpers/procs.js';

const admin = kube('admin');
const A = clusterEnv().NODE_NAME;
const B = 'kubesonic-fleet-b';
const F = 'fleettest';
const dir = join(TEST_ROOT, 'fleet-split');
const specFile = join(dir, `${F}.yaml`);
const kubeconfigOf = (node: string) => join(dir, `${node}.kubeconfig`);
let asA: Cluster;

const labels = async (node: string) => (await admin.core.readNode({ name: node })).metadata?.labels ?? {};
const taints = async (node: string) => (await admin.core.readNode({ name: node })).spec?.taints ?? [];
const daemonSetPresent = () =>
  admin.apps.readNamespacedDaemonSet({ name: F, namespace: 'sonic' }).then(
    () => true,
    () => false,
  );
/** `kubesonic …` as a switch would run it (its own kubeconfig, this node), but from the test host. */
const onSwitchAs = (node: string, ...args: string[]) =>
  run(process.execPath, [KUBESONIC, ...args, '--kubeconfig', kubeconfigOf(node), '--node', A, '--host-root', join(dir, 'root')], {
    PATH: process.env.PATH,
    KUBESONIC_REDIS_HOST: '127.0.0.1',
    KUBESONIC_REDIS_PORT: '1', // nothing there: the refusals come before anything needs Redis
  });

async function forgetPods(): Promise<void> {
  for (const node of [A, B])
    for (const p of await podsOf(admin, F, node))
      await admin.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: 'sonic', gracePeriodSeconds: 0 }).catch(() => undefined);
}

beforeAll(async () => {
  mkdirSync(join(dir, 'root'), { recursive: true });
  // OnDelete: the DaemonSet controller adopts B's hand-made pod (its labels match) and would replace
  // it, as a pod of an older template, under RollingUpdate.
  writeFileSync(
    specFile,
    `feature: ${F}\nimage: localhost/kubesonic/pause:1\nimagePullPolicy: Never\ncommand: [/pause]\nrollout: { strategy: OnDelete }\n`,
  );
  await admin.core.createNode({ body: { metadata: { name: B } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
  for (const node of [A, B]) writeFileSync(kubeconfigOf(node), await switchKubeconfigText(node), { mode: 0o600 });
  asA = clientNodeCluster(kubeClients(loadKubeConfig(kubeconfigOf(A), { inCluster: undefined, kubeconfigs: [] })));
}, 120_000);

afterAll(async () => {
  removeClusterSide(F, specFile);
  await setLabel(asCluster(admin), A, optInLabel(F), false).catch(() => undefined);
  await forgetPods();
  await admin.core.deleteNode({ name: B }).catch(() => undefined);
});

describe('cluster side once, switch side per switch, on the real API server', () => {
  it('migrate before the cluster side exists: one line, exit 1, nothing changed', async () => {
    const before = { labels: await labels(A), taints: await taints(A) };
    const r = onSwitchAs(A, 'migrate', F, '--spec', specFile);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `kubesonic: migrate ${F}: the cluster side of ${F} is not applied in namespace sonic (a cluster admin runs \`kubesonic cluster apply ${F}\`); nothing changed\n`,
    );
    expect({ labels: await labels(A), taints: await taints(A) }).toEqual(before);
  });

  it('cluster apply (admin): the DaemonSet selects no node yet; a switch cannot apply it (403)', async () => {
    const bySwitch = run(process.execPath, [KUBESONIC, 'cluster', 'apply', F, '--spec', specFile, '--kubeconfig', kubeconfigOf(A)]);
    expect(bySwitch.code).not.toBe(0);
    expect(bySwitch.stderr.trim().split('\n')).toHaveLength(1);
    expect(await daemonSetPresent()).toBe(false);
    clusterSide('apply', F, specFile);
    const ds = await waitUntil('the DaemonSet observed', 30_000, async () => {
      const d = await admin.apps.readNamespacedDaemonSet({ name: F, namespace: 'sonic' });
      return d.status?.observedGeneration === d.metadata?.generation ? d : undefined;
    });
    expect(ds.spec?.template.spec?.nodeSelector).toEqual({ [optInLabel(F).key]: 'enabled' });
    expect(ds.status?.desiredNumberScheduled).toBe(0);
  });

  it("switch B's token on switch A: refused with one line, nothing changed", async () => {
    const before = { labels: await labels(A), taints: await taints(A) };
    const r = onSwitchAs(B, 'migrate', F, '--spec', specFile);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`kubesonic: migrate ${F}: the kubeconfig is switch ${B}'s identity, this node is ${A}; nothing changed\n`);
    expect({ labels: await labels(A), taints: await taints(A) }).toEqual(before);
  });

  it("A opts in with its own token: a pod on A, none on B; B opted in by its switch, with a pod: A opting out leaves B's", async () => {
    await setLabel(asA, A, optInLabel(F), true);
    const [onA] = await waitUntil('a pod on A', 60_000, async () => {
      const p = await podsOf(admin, F, A);
      return p.length ? p : undefined;
    });
    expect(onA?.spec?.nodeName).toBe(A);
    expect(await podsOf(admin, F, B)).toEqual([]);
    // A's token cannot opt B in (the node policy, or RBAC by name).
    await expect(setLabel(asA, B, optInLabel(F), true)).rejects.toMatchObject({ code: 403 });
    await setLabel(asCluster(admin), B, optInLabel(F), true); // what B's own migrate does
    // B has no kubelet (never Ready, no capacity): the scheduler cannot place the DaemonSet's pod
    // there, so B's pod is bound by hand, labelled as the DaemonSet's (its controller adopts it).
    const onB = await admin.core.createNamespacedPod({
      namespace: 'sonic',
      body: {
        metadata: { name: `${F}-on-b`, labels: { app: F, 'kubesonic.sonic-net.github.io/role': 'feature' } },
        // Tolerates B's not-ready/unreachable NoExecute taints (the taint manager would evict it).
        spec: { nodeName: B, tolerations: [{ operator: 'Exists' }], containers: [{ name: F, image: 'localhost/kubesonic/pause:1' }] },
      },
    });
    await setLabel(asA, A, optInLabel(F), false);
    await waitUntil("A's pod gone", 60_000, async () => ((await podsOf(admin, F, A)).length === 0 ? true : undefined));
    const b = await admin.core.readNamespacedPod({ name: `${F}-on-b`, namespace: 'sonic' });
    expect(b.metadata?.uid).toBe(onB.metadata?.uid);
    expect(b.metadata?.deletionTimestamp).toBeUndefined();
    expect((await labels(B))[optInLabel(F).key]).toBe('enabled');
  });

  it('cluster remove while B is opted in: refused, naming B, nothing changed; --force removes it', async () => {
    const r = run(process.execPath, [KUBESONIC, 'cluster', 'remove', F, '--spec', specFile, '--kubeconfig', kubeconfigFor('admin')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `kubesonic: cluster remove ${F}: 1 node(s) still opted in (${B}): run \`kubesonic rollback ${F}\` on each, or --force; nothing changed\n`,
    );
    expect(await daemonSetPresent()).toBe(true);
    const forced = clusterSide('remove', F, specFile, '--force');
    expect(forced).toMatch(new RegExp(`--force: 1 node\\(s\\) still opted in lose their ${F} pod \\(${B}\\)`));
    expect(await daemonSetPresent()).toBe(false);
  });
});

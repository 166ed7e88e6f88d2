// Canary targeting on the real cluster: a feature DaemonSet whose spec selects a node label the
// node lacks gets no pod there; labelling the node brings one; the rollout strategy is as rendered.
import { PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { renderFeature } from '../../src/manifest/render.js';
import { parseFeatureSpec } from '../../src/manifest/spec.js';
import { waitUntil } from '../../src/util/wait.js';
import { asCluster, clusterEnv, kube, podsOf } from '../helpers/cluster.js';
import { optInLabel } from '../../src/kube/ids.js';

const admin = kube('admin');
const node = clusterEnv().NODE_NAME;
const CANARY = 'kubesonic.sonic-net.github.io/canary-test';
// Only placement is tested: the pause image is on the node already, the pod need not run.
const spec = parseFeatureSpec(
  'feature: canarytest\nimage: localhost/kubesonic/pause:1\nimagePullPolicy: Never\ncommand: [/pause]\n' +
    `rollout: { strategy: OnDelete }\nnodeSelector: { ${CANARY}: "true" }\n`,
);
const objs: KubernetesObject[] = renderFeature(spec);

const OPT_IN = optInLabel('canarytest').key;

/** The canary label (the admin's targeting) and the opt-in label (the switch's migrate). */
async function label(value: string | null, optIn: string | null = 'enabled'): Promise<void> {
  await admin.core.patchNode(
    { name: node, body: { metadata: { labels: { [CANARY]: value, [OPT_IN]: optIn } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

afterAll(async () => {
  await label(null, null).catch(() => undefined);
  await asCluster(admin).delete(objs);
  for (const p of await podsOf(admin, 'canarytest'))
    await admin.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: 'sonic', gracePeriodSeconds: 0 }).catch(() => undefined);
});

describe('nodeSelector and rollout from the spec, on the real scheduler', () => {
  it('no pod on a node without the canary label; one once the node has it', async () => {
    await label(null);
    await asCluster(admin).apply(objs);
    const ds = await admin.apps.readNamespacedDaemonSet({ name: 'canarytest', namespace: 'sonic' });
    expect(ds.spec?.updateStrategy).toEqual({ type: 'OnDelete' });
    expect(ds.spec?.template.spec?.nodeSelector).toEqual({ [OPT_IN]: 'enabled', [CANARY]: 'true' });
    // The controller has seen the DaemonSet (observedGeneration) and placed nothing.
    const seen = await waitUntil('the DaemonSet controller to observe the DaemonSet', 30_000, async () => {
      const d = await admin.apps.readNamespacedDaemonSet({ name: 'canarytest', namespace: 'sonic' });
      return d.status?.observedGeneration === d.metadata?.generation ? d : undefined;
    });
    expect(seen.status?.desiredNumberScheduled).toBe(0);
    expect(await podsOf(admin, 'canarytest')).toEqual([]);

    await label('true');
    const pods = await waitUntil('a canarytest pod on the labelled node', 60_000, async () => {
      const p = await podsOf(admin, 'canarytest');
      return p.length ? p : undefined;
    });
    expect(pods.map((p) => p.spec?.nodeName)).toEqual([node]);
  });
});

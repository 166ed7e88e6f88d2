// The cluster side of a feature, applied once for the whole fleet by a cluster admin (docs/fleet.md):
// the feature's DaemonSet (and its RBAC, or the node agent serving it) and a record that the switch
// side reads before it migrates. The switch side (`kubesonic migrate` on a switch, with that switch's
// own identity) never creates or deletes any of it: it opts its own node in and out with a label.
//   kubesonic cluster apply <f>    apply the objects and the record (idempotent)
//   kubesonic cluster remove <f>   delete them — refused while a node is still opted in, unless --force
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { objectsAbsent, objectsPresent, type Cluster } from '../kube/cluster.js';
import { CLUSTER_RECORD, MANAGED_BY, optInLabel } from '../kube/ids.js';
import { agentFeatures, renderFeature } from '../manifest/render.js';
import type { FeatureSpec } from '../manifest/spec.js';
import { ExitError } from '../util/errors.js';
import { agentObjects, agentServes, usesAgent } from './agent-objects.js';
import type { Step } from './steps.js';

export { CLUSTER_RECORD };

export interface ClusterSideContext {
  spec: FeatureSpec;
  cluster: Cluster;
  out: (line: string) => void;
}

const recordRef = (namespace: string): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: CLUSTER_RECORD, namespace },
});

/** What the record says of a feature: the image and a digest of the rendered objects (drift shows). */
export function recordEntry(spec: FeatureSpec): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(renderFeature(spec)))
    .digest('hex')
    .slice(0, 16);
  return JSON.stringify({ image: spec.image, objects: digest });
}

/** The features the cluster side was applied for in `namespace`, with their entries. */
export async function appliedFeatures(cluster: Cluster, namespace: string): Promise<Record<string, string>> {
  const cm = (await cluster.get(recordRef(namespace))) as { data?: Record<string, string> } | undefined;
  return { ...cm?.data };
}

async function writeRecord(ctx: ClusterSideContext, entry: string | undefined): Promise<void> {
  const { feature, namespace } = ctx.spec;
  // Read, change one key, write the whole map: a server-side apply of one key would take the
  // others away (they were applied by the same field manager).
  const data = await appliedFeatures(ctx.cluster, namespace);
  if (entry === undefined) delete data[feature];
  else data[feature] = entry;
  await ctx.cluster.apply([
    { ...recordRef(namespace), metadata: { name: CLUSTER_RECORD, namespace, labels: { ...MANAGED_BY } }, data } as KubernetesObject,
  ]);
}

/**
 * A spec whose own selectors (not the opt-in label) match no node puts the feature nowhere: said
 * before anything is applied; an error unless the admin means it (`--allow-no-nodes`: the canary
 * label comes later).
 */
export async function clusterApplyPreflight(ctx: ClusterSideContext, allowNoNodes: boolean): Promise<void> {
  const selector = Object.entries(ctx.spec.nodeSelector);
  if (!selector.length) return;
  const nodes = await ctx.cluster.listNodeNames(selector.map(([k, v]) => `${k}=${v}`).join(','));
  if (nodes.length) return;
  const line = `cluster apply ${ctx.spec.feature}: no node matches the spec's nodeSelector (${selector.map(([k, v]) => `${k}=${v}`).join(', ')})`;
  if (!allowNoNodes) throw new ExitError(`${line}: label the nodes first, or --allow-no-nodes; nothing changed`, 1);
  ctx.out(`${line}: applied all the same (--allow-no-nodes)`);
}

export function clusterApplySteps(ctx: ClusterSideContext): Step[] {
  const f = ctx.spec.feature;
  const objs = renderFeature(ctx.spec);
  const agent = usesAgent(ctx);
  return [
    {
      name: 'objects',
      describe: `server-side apply ${objs.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}${agent ? `, and the node agent serving ${f}` : ''} (pods only on nodes labelled ${optInLabel(f).key}=${optInLabel(f).value})`,
      // Present is not enough: a changed spec (a new image, a canary selector) must reach the
      // cluster. The record holds the digest of what was applied last.
      done: async () =>
        (await appliedFeatures(ctx.cluster, ctx.spec.namespace))[f] === recordEntry(ctx.spec) &&
        (await objectsPresent(ctx.cluster, objs)) &&
        (!agent || (await agentServes(ctx))),
      apply: async () => {
        await ctx.cluster.apply([...objs, ...(agent ? await agentObjects(ctx, 'add') : [])]);
      },
    },
    {
      name: 'record',
      describe: `record ${f} in ConfigMap ${ctx.spec.namespace}/${CLUSTER_RECORD} (what a switch's migrate checks first)`,
      done: async () => (await appliedFeatures(ctx.cluster, ctx.spec.namespace))[f] === recordEntry(ctx.spec),
      apply: () => writeRecord(ctx, recordEntry(ctx.spec)),
    },
  ];
}

/** The nodes still opted in to the feature (their switches run it under Kubernetes). */
export const optedInNodes = (ctx: ClusterSideContext): Promise<string[]> => {
  const l = optInLabel(ctx.spec.feature);
  return ctx.cluster.listNodeNames(`${l.key}=${l.value}`);
};

/**
 * Before removing a feature from the fleet: a switch still opted in has its unit proxied to a pod
 * that would vanish under it (its FEATURE says running, nothing runs). Refused, nothing changed,
 * unless forced; each such switch is then named so it can be rolled back by hand.
 */
export async function clusterRemovePreflight(ctx: ClusterSideContext, force: boolean): Promise<void> {
  const nodes = await optedInNodes(ctx);
  if (nodes.length === 0) return;
  const shown = nodes.length > 5 ? `${nodes.slice(0, 5).join(', ')} and ${nodes.length - 5} more` : nodes.join(', ');
  if (!force)
    throw new ExitError(
      `cluster remove ${ctx.spec.feature}: ${nodes.length} node(s) still opted in (${shown}): run \`kubesonic rollback ${ctx.spec.feature}\` on each, or --force; nothing changed`,
      1,
    );
  ctx.out(`--force: ${nodes.length} node(s) still opted in lose their ${ctx.spec.feature} pod (${shown}); roll each back on the switch`);
}

export function clusterRemoveSteps(ctx: ClusterSideContext): Step[] {
  const f = ctx.spec.feature;
  const objs = renderFeature(ctx.spec);
  const steps: Step[] = [
    {
      // First: a switch that migrates from now on is refused before it changes anything.
      name: 'record',
      describe: `remove ${f} from ConfigMap ${ctx.spec.namespace}/${CLUSTER_RECORD}`,
      done: async () => !(f in (await appliedFeatures(ctx.cluster, ctx.spec.namespace))),
      apply: () => writeRecord(ctx, undefined),
    },
    {
      name: 'objects',
      describe: `delete ${objs.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`,
      done: () => objectsAbsent(ctx.cluster, objs),
      apply: () => ctx.cluster.delete(objs),
    },
  ];
  if (usesAgent(ctx))
    steps.push({
      name: 'agent',
      describe: `take ${f} out of the node agent (delete the agent with its last feature)`,
      done: async () => !(await agentServes(ctx)),
      apply: async () => {
        const agent = await agentObjects(ctx, 'remove');
        if (agentFeatures(agent.find((o) => o.kind === 'DaemonSet')).length) await ctx.cluster.apply(agent);
        else await ctx.cluster.delete(agent);
      },
    });
  return steps;
}

// The node agent's DaemonSet serves a list of features (its --feature arguments, one drop-in
// mount each). migrate adds its feature to the list the cluster has; rollback takes it out, and
// removes the agent with the last one.
import type { KubernetesObject } from '@kubernetes/client-node';
import { AGENT_NAME, agentFeatures, renderAgent } from '../manifest/render.js';
import type { FlowContext } from './context.js';

/** What the agent's objects need of a flow: the spec and the cluster (the cluster side has no more). */
type AgentContext = Pick<FlowContext, 'spec' | 'cluster'>;

export const usesAgent = (ctx: AgentContext): boolean => ctx.spec.sync === 'agent' && ctx.spec.sidecar !== undefined;

const agentDaemonSet = (ctx: AgentContext): KubernetesObject => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: AGENT_NAME, namespace: ctx.spec.namespace },
});

/** The features the applied agent serves ([] when there is none). */
export async function appliedAgentFeatures(ctx: AgentContext): Promise<string[]> {
  return agentFeatures(await ctx.cluster.get(agentDaemonSet(ctx)));
}

export const agentServes = async (ctx: AgentContext): Promise<boolean> => (await appliedAgentFeatures(ctx)).includes(ctx.spec.feature);

/** The agent's objects with this feature added to, or taken from, what the cluster has. */
export async function agentObjects(ctx: AgentContext, change: 'add' | 'remove'): Promise<KubernetesObject[]> {
  const others = (await appliedAgentFeatures(ctx)).filter((f) => f !== ctx.spec.feature);
  return renderAgent(ctx.spec, change === 'add' ? [...others, ctx.spec.feature] : others);
}

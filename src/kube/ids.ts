// Small names shared by every path that looks at a feature's pods.

/** "containerd://4e3b…" → "4e3b…": the runtime id without its scheme. */
export function containerIdOf(runtimeId: string): string {
  return runtimeId.replace(/^[a-z0-9-]+:\/\//, '');
}

/** The 12-character id SONiC tools show (docker ps, STATE_DB container_id). */
export function shortContainerId(runtimeId: string | undefined): string | undefined {
  return runtimeId ? containerIdOf(runtimeId).slice(0, 12) : undefined;
}

/** The feature's pods carry app=<feature> (the seed's label, and container_checker's). */
export const featureSelector = (feature: string): string => `app=${feature}`;

/** Every object kubesonic renders carries this label. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kubesonic' } as const;

/** Feature pods (not the agent's own) carry this label; the per-node agent watches them all at once. */
export const FEATURE_POD_LABEL = 'kubesonic.sonic-net.github.io/role';
export const FEATURE_POD_SELECTOR = `${FEATURE_POD_LABEL}=feature`;

/** Pods bound to one node. */
export const nodeFieldSelector = (node: string): string => `spec.nodeName=${node}`;

/** The pod annotation that tells the agent which migration version the feature's host side follows. */
export const VERSION_ANNOTATION = 'kubesonic.sonic-net.github.io/migration-version';

/** The feature container's name in its pod (Kubernetes names allow no `_`: sflow_agent → sflow-agent). */
export const featureContainerName = (feature: string): string => feature.replace(/_/g, '-');

/** kubesonic's label and taint keys share this prefix (a DNS subdomain the project owns). */
export const KUBESONIC_KEY_PREFIX = 'kubesonic.sonic-net.github.io/';

/**
 * A switch's opt-in to a feature: the node label `kubesonic.sonic-net.github.io/<f>=enabled`. The
 * switch sets it on its own node; a DaemonSet can select on it so the feature lands only where asked.
 */
export const optInLabel = (feature: string): { key: string; value: string } => ({
  key: `${KUBESONIC_KEY_PREFIX}${feature}`,
  value: 'enabled',
});

/**
 * The cluster side's record (migrate/cluster-side.ts): a ConfigMap in the features' namespace with a
 * key per feature applied for the fleet. Switches may read it, by name, and nothing else of its kind.
 */
export const CLUSTER_RECORD = 'kubesonic-cluster';

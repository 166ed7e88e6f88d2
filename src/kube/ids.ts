// Small names shared by every path that looks at a feature's pods.

/** "containerd://4e3b…" → "4e3b…": the runtime id without its scheme. */
export function containerIdOf(runtimeId: string): string {
  return runtimeId.replace(/^[a-z0-9-]+:\/\//, '');
}

/** The 12-character id SONiC tools show (docker ps, STATE_DB container_id). */
export function shortContainerId(runtimeId: string | undefined): string | undefined {
  return runtimeId ? containerIdOf(runtimeId).slice(0, 12) : undefined;
}

/** The feature's pods on one node: label app=<feature>, bound to the node. */
export function featurePodSelector(feature: string, node: string): { labelSelector: string; fieldSelector: string } {
  return { labelSelector: `app=${feature}`, fieldSelector: `spec.nodeName=${node}` };
}

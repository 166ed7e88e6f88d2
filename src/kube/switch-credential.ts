// Issuing a switch's credential (docs/fleet.md): a token for its ServiceAccount from the TokenRequest
// API, wrapped in a kubeconfig. The token names the ServiceAccount's UID, so deleting the
// ServiceAccount revokes every token issued for it at once; nothing is stored in a Secret.
import { readFileSync } from 'node:fs';
import { SWITCH_NAMESPACE, checkNodeName, switchKubeconfig } from '../manifest/access.js';
import { isNotFound, type Kube } from './client.js';

export interface IssuedCredential {
  kubeconfig: string;
  /** When the token stops working (the API server may shorten what was asked). */
  expires: Date | undefined;
}

/** A fresh token for `node`'s ServiceAccount, valid `seconds`, as a kubeconfig for that switch (run with admin credentials). */
export async function issueSwitchCredential(k: Kube, node: string, seconds: number, server?: string): Promise<IssuedCredential> {
  checkNodeName(node);
  if (!Number.isInteger(seconds) || seconds < 600) throw new Error(`token lifetime must be at least 600 s, got ${seconds}`);
  const cluster = k.kc.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? readFileSync(cluster.caFile) : undefined;
  if (!ca) throw new Error("the admin kubeconfig names no CA: the switch's kubeconfig needs it to trust the API server");
  let res: Awaited<ReturnType<typeof k.core.createNamespacedServiceAccountToken>>;
  try {
    res = await k.core.createNamespacedServiceAccountToken({
      name: node,
      namespace: SWITCH_NAMESPACE,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: seconds } },
    });
  } catch (e) {
    if (isNotFound(e))
      throw new Error(`no ServiceAccount ${SWITCH_NAMESPACE}/${node}: apply \`kubesonic render-switch-access ${node}\` first`);
    throw e;
  }
  const token = res.status?.token;
  if (!token) throw new Error(`the API server issued no token for ${SWITCH_NAMESPACE}/${node}`);
  return {
    kubeconfig: switchKubeconfig({ node, server: server ?? cluster.server, ca, token }),
    expires: res.status?.expirationTimestamp ? new Date(res.status.expirationTimestamp) : undefined,
  };
}

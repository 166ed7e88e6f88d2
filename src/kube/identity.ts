// Who a kubeconfig says it is, read locally (no request): a switch's token is a ServiceAccount JWT
// whose `sub` names the switch (manifest/access.ts). Only read, never verified — the API server
// verifies; this is for refusing, before anything changes, a switch credential that belongs to
// another node (a copied file, a mixed-up install).
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';

/** The `sub` claim of a JWT, or undefined when the token is not a JWT. */
export function tokenSubject(token: string): string | undefined {
  const parts = token.trim().split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const sub = (claims as { sub?: unknown } | null)?.sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** The user name the kubeconfig's bearer token claims, when it carries one. */
export function kubeconfigIdentity(kc: KubeConfig): string | undefined {
  const user = kc.getCurrentUser() as { token?: string; tokenFile?: string } | null;
  let token = user?.token;
  if (!token && user?.tokenFile) {
    try {
      token = readFileSync(user.tokenFile, 'utf8');
    } catch {
      return undefined;
    }
  }
  return token ? tokenSubject(token) : undefined;
}

// What the migrate and rollback steps work with: the feature's spec, this node, and the outside
// world as ports (real ones from the CLI, fakes from test/fakes in the table tests).
import type { Docker } from '../host/docker.js';
import type { Systemctl } from '../host/systemctl.js';
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import type { FeatureDb } from '../feature/db.js';
import type { FeatureSpec } from '../manifest/spec.js';

export interface FlowContext {
  spec: FeatureSpec;
  node: string;
  cluster: Cluster;
  db: FeatureDb;
  docker: Docker;
  systemctl: Systemctl;
  /** Root of the host filesystem kubesonic writes under ("/" on a switch). */
  root: string;
  unitDir: string;
  /** How long to wait for pods. */
  timeoutMs: number;
  /** How often waits re-check (tests use a short one). */
  pollMs?: number;
  out: (line: string) => void;
  /** The user the credentials claim (kube/identity.ts), when known: a switch's names its node. */
  identity?: string | undefined;
}

export const targetOf = (ctx: FlowContext): FeatureTarget => ({ feature: ctx.spec.feature, namespace: ctx.spec.namespace, node: ctx.node });

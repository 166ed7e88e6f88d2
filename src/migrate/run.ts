// `kubesonic migrate|rollback <feature>` (the switch side) and `kubesonic cluster apply|remove
// <feature>` (the cluster side) with the real ports: the spec, the switch's Redis, Docker,
// systemd and the cluster, then the recipe through the step runner.
import { redisFeatureDb } from '../feature/redis-db.js';
import { dockerEngine } from '../host/docker.js';
import { realSystemctl } from '../host/systemctl.js';
import { clientNodeCluster, kubeClients, loadKubeConfig } from '../kube/client.js';
import { kubeconfigIdentity } from '../kube/identity.js';
import { loadSpec } from '../manifest/spec-file.js';
import type { Settings } from '../settings.js';
import { UNIT_DIR } from '../sonic/paths.js';
import type { FlowContext } from './context.js';
import { migratePreflight, migrateSteps, refuseOtherSwitch } from './migrate.js';
import { rollbackSteps } from './rollback.js';
import {
  clusterApplyPreflight,
  clusterApplySteps,
  clusterRemovePreflight,
  clusterRemoveSteps,
  type ClusterSideContext,
} from './cluster-side.js';
import { runSteps } from './steps.js';

export interface FlowRequest {
  flow: 'migrate' | 'rollback';
  feature: string;
  spec?: string | undefined;
  kubeconfig?: string | undefined;
  node?: string | undefined;
  dryRun: boolean;
  timeoutMs: number;
  hostRoot: string;
  out: (line: string) => void;
}

/** Exit code of a crash test's injected fault (KUBESONIC_FAULT_AFTER_STEP). */
export const FAULT_EXIT = 70;

export async function runFlow(req: FlowRequest, settings: Settings): Promise<void> {
  const spec = loadSpec(req.feature, req.spec);
  // One-shot commands: queue while Redis reconnects, give up on a command after 3 tries.
  const kc = loadKubeConfig(req.kubeconfig, settings.api);
  const db = redisFeatureDb(settings.redis, { queueWhileOffline: true, maxRetriesPerRequest: 3 });
  try {
    const ctx: FlowContext = {
      spec,
      node: (req.node || settings.nodeName).toLowerCase(),
      cluster: clientNodeCluster(kubeClients(kc)),
      identity: kubeconfigIdentity(kc),
      db,
      // A spec that says the node has no Docker (host.dockerSocket: false) makes Docker provably absent.
      docker: dockerEngine(spec.host.dockerSocket === undefined ? undefined : settings.dockerSocket),
      systemctl: realSystemctl,
      root: req.hostRoot,
      unitDir: UNIT_DIR,
      timeoutMs: req.timeoutMs,
      out: req.out,
    };
    if (req.flow === 'migrate') await migratePreflight(ctx);
    else refuseOtherSwitch(ctx, 'rollback');
    const steps = req.flow === 'migrate' ? migrateSteps(ctx) : rollbackSteps(ctx);
    await runSteps(steps, {
      dryRun: req.dryRun,
      out: req.out,
      afterStep: (name) => {
        if (settings.faultAfterStep !== name) return;
        req.out(`${name}: fault injected, exiting`);
        process.exit(FAULT_EXIT);
      },
    });
  } finally {
    db.close();
  }
}

export interface ClusterRequest {
  action: 'apply' | 'remove';
  feature: string;
  spec?: string | undefined;
  kubeconfig?: string | undefined;
  dryRun: boolean;
  force: boolean;
  allowNoNodes: boolean;
  out: (line: string) => void;
}

/** `kubesonic cluster apply|remove <feature>`: the cluster side, with a cluster admin's credentials. */
export async function runClusterSide(req: ClusterRequest, settings: Settings): Promise<void> {
  const ctx: ClusterSideContext = {
    spec: loadSpec(req.feature, req.spec),
    cluster: clientNodeCluster(kubeClients(loadKubeConfig(req.kubeconfig, settings.api))),
    out: req.out,
  };
  if (req.action === 'remove') await clusterRemovePreflight(ctx, req.force);
  else await clusterApplyPreflight(ctx, req.allowNoNodes);
  await runSteps(req.action === 'apply' ? clusterApplySteps(ctx) : clusterRemoveSteps(ctx), { dryRun: req.dryRun, out: req.out });
}

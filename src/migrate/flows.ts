// The seed's one-time migration (native container -> DaemonSet pod) and its rollback, as
// idempotent steps. Invariant: the native container and the pod never run at the same time —
// the node keeps the <f>=disabled:NoSchedule taint until the native container is stopped, the
// pod's gate init container re-checks it, and on rollback the pod is gone before the native unit
// is restarted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { KubernetesObject } from '@kubernetes/client-node';
import { applyObjects, deleteFeaturePodsAndWait, deleteObjects, disableTaint, featurePods, hasTaint, isNotFound, setTaint, waitUntil, type Kube } from '../kube/client.js';
import { renderFeature } from '../manifest/render.js';
import { objectName, type FeatureSpec } from '../manifest/spec.js';
import { featureKey } from '../feature/db.js';
import { atomicWrite, applyHostFiles } from '../systemd/files.js';
import { dropInPath, hostPlan, STATE_DIR, stubDropIn } from '../systemd/unit.js';
import { nativeRunning, stopContainer } from '../docker/api.js';
import { runningPod } from '../systemd/stub.js';
import type { Step } from './steps.js';

/** FEATURE|bmp as SONiC's own test fixture has it; bmp is not seeded by init_cfg.json. */
export const DEFAULT_FEATURE_ENTRY: Record<string, string> = {
  auto_restart: 'enabled',
  check_up_status: 'false',
  delayed: 'False',
  has_global_scope: 'True',
  has_per_asic_scope: 'False',
  high_mem_alert: 'disabled',
  set_owner: 'local',
  state: 'enabled',
  support_syslog_rate_limit: 'false',
};

export interface HostOps {
  /** Root of the host filesystem kubesonic writes under ("/" on a switch). */
  root: string;
  unitDir: string;
  systemctl(args: string[]): { code: number; stdout: string };
  dockerSocket: string;
}

export interface FlowContext {
  spec: FeatureSpec;
  k: Kube;
  node: string;
  configDb: Redis;
  stateDb: Redis;
  host: HostOps;
  timeoutMs: number;
  out: (line: string) => void;
}

interface MigrationRecord {
  feature: string;
  migratedAt: string;
  configStateBefore: string | undefined;
}

const recordPath = (ctx: FlowContext) => join(ctx.host.root, STATE_DIR, 'features', `${ctx.spec.feature}.json`);

function readRecord(ctx: FlowContext): MigrationRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(ctx), 'utf8')) as MigrationRecord;
  } catch {
    return undefined;
  }
}

async function tainted(ctx: FlowContext): Promise<boolean> {
  return hasTaint(await ctx.k.core.readNode({ name: ctx.node }), disableTaint(ctx.spec.feature));
}

function stubInstalled(ctx: FlowContext): boolean {
  try {
    return readFileSync(join(ctx.host.root, dropInPath(ctx.spec.feature, ctx.host.unitDir)), 'utf8') === stubDropIn(ctx.spec.feature);
  } catch {
    return false;
  }
}

function unitActive(ctx: FlowContext): boolean {
  return ctx.host.systemctl(['is-active', '--quiet', `${ctx.spec.feature}.service`]).code === 0;
}

async function objectsPresent(ctx: FlowContext, objs: readonly KubernetesObject[]): Promise<boolean> {
  for (const o of objs) {
    try {
      await ctx.k.objects.read({ apiVersion: o.apiVersion!, kind: o.kind!, metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace } });
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }
  return true;
}

function daemonReload(ctx: FlowContext): void {
  const r = ctx.host.systemctl(['daemon-reload']);
  if (r.code !== 0) throw new Error(`systemctl daemon-reload exited ${r.code}`);
}

export function migrateSteps(ctx: FlowContext): Step[] {
  const f = ctx.spec.feature;
  const objs = renderFeature(ctx.spec);
  const deadline = () => Date.now() + 30_000;
  return [
    {
      name: 'feature-entry',
      describe: `make sure CONFIG_DB ${featureKey(f)} exists and record its state for rollback`,
      done: async () => (await ctx.configDb.exists(featureKey(f))) === 1 && readRecord(ctx) !== undefined,
      apply: async () => {
        // HSETNX per field: never overwrite what golden config or the operator set.
        for (const [k, v] of Object.entries(DEFAULT_FEATURE_ENTRY)) await ctx.configDb.hsetnx(featureKey(f), k, v);
        if (!readRecord(ctx)) {
          const rec: MigrationRecord = { feature: f, migratedAt: new Date().toISOString(), configStateBefore: (await ctx.configDb.hget(featureKey(f), 'state')) ?? undefined };
          atomicWrite(recordPath(ctx), `${JSON.stringify(rec, null, 2)}\n`, 0o644);
        }
      },
    },
    {
      name: 'hold',
      describe: `taint ${ctx.node} with ${f}=disabled:NoSchedule so no pod starts before the native container is stopped`,
      done: async () => (await tainted(ctx)) || (stubInstalled(ctx) && (await runningPod(ctx.k, { feature: f, namespace: ctx.spec.namespace, node: ctx.node })) !== undefined),
      apply: async () => {
        await setTaint(ctx.k, ctx.node, disableTaint(f), true);
      },
    },
    {
      name: 'apply',
      describe: `server-side apply ${objs.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`,
      done: () => objectsPresent(ctx, objs),
      apply: async () => {
        await applyObjects(ctx.k, objs);
      },
    },
    {
      name: 'stop-native',
      describe: `stop the native ${f}.service and make sure no Docker container named ${f} runs`,
      done: async () => (stubInstalled(ctx) || !unitActive(ctx)) && !(await nativeRunning(ctx.host.dockerSocket, f, deadline()).catch(() => undefined)),
      apply: async () => {
        if (!stubInstalled(ctx) && unitActive(ctx)) ctx.host.systemctl(['stop', `${f}.service`]);
        const native = await nativeRunning(ctx.host.dockerSocket, f, deadline()).catch(() => undefined);
        if (native) await stopContainer(ctx.host.dockerSocket, native.id, 10, deadline());
      },
    },
    {
      name: 'stub',
      describe: `install ${dropInPath(f, ctx.host.unitDir)} (unit proxies to the pod) and daemon-reload`,
      done: async () => stubInstalled(ctx),
      apply: async () => {
        const r = applyHostFiles(hostPlan(f, 'v1', ctx.host.unitDir), ctx.host.root);
        for (const b of r.backups) ctx.out(`  backed up ${b}`);
        daemonReload(ctx);
        // Lets the sidecar (hostPath mounts only, no privileges) ask for later reloads.
        ctx.host.systemctl(['enable', '--now', 'kubesonic-reload.path']);
      },
    },
    {
      name: 'release',
      describe: `remove the taint so the DaemonSet starts ${f} on ${ctx.node}`,
      // Only meaningful once the unit is the proxy: before that, "no taint" is the native state.
      done: async () => stubInstalled(ctx) && !(await tainted(ctx)),
      apply: async () => {
        await setTaint(ctx.k, ctx.node, disableTaint(f), false);
      },
    },
    {
      name: 'running',
      describe: `wait for the ${f} pod on ${ctx.node} to run`,
      done: async () => (await runningPod(ctx.k, { feature: f, namespace: ctx.spec.namespace, node: ctx.node })) !== undefined,
      apply: async () => {
        await waitUntil(`${f} pod running`, ctx.timeoutMs, () => runningPod(ctx.k, { feature: f, namespace: ctx.spec.namespace, node: ctx.node }), 1000);
      },
    },
    {
      name: 'unit',
      describe: `start ${f}.service (now the proxy) so systemd, featured and system-health see it active`,
      done: async () => stubInstalled(ctx) && unitActive(ctx),
      apply: async () => {
        ctx.host.systemctl(['reset-failed', `${f}.service`]);
        const r = ctx.host.systemctl(['start', `${f}.service`]);
        if (r.code !== 0) throw new Error(`systemctl start ${f}.service exited ${r.code}`);
      },
    },
  ];
}

export function rollbackSteps(ctx: FlowContext, opts: { nodeOnly: boolean }): Step[] {
  const f = ctx.spec.feature;
  const target = { feature: f, namespace: ctx.spec.namespace, node: ctx.node };
  const objs = renderFeature(ctx.spec);
  const ds = objs.filter((o) => o.kind === 'DaemonSet');
  const podsGone = async () => (await featurePods(ctx.k, ctx.spec.namespace, f, ctx.node)).length === 0;
  const steps: Step[] = [];
  if (opts.nodeOnly) {
    steps.push({
      name: 'hold',
      describe: `taint ${ctx.node} with ${f}=disabled:NoSchedule so the DaemonSet keeps no pod here`,
      done: () => tainted(ctx),
      apply: async () => {
        await setTaint(ctx.k, ctx.node, disableTaint(f), true);
      },
    });
  } else {
    steps.push({
      name: 'delete-daemonset',
      describe: `delete DaemonSet ${ctx.spec.namespace}/${objectName(f)} (every node)`,
      done: async () => !(await objectsPresent(ctx, ds)),
      apply: () => deleteObjects(ctx.k, ds),
    });
  }
  steps.push(
    {
      name: 'pods-gone',
      describe: `delete the ${f} pod on ${ctx.node} and wait until it is gone`,
      done: podsGone,
      apply: () => deleteFeaturePodsAndWait(ctx.k, ctx.spec.namespace, f, ctx.node, ctx.timeoutMs),
    },
    {
      name: 'unstub',
      describe: `remove ${dropInPath(f, ctx.host.unitDir)} and daemon-reload: ${f}.service is the image's unit again`,
      done: async () => !stubInstalled(ctx),
      apply: async () => {
        // Drop-in first: the stop that follows is then the image's own (docker stop of a container
        // that is not there), not the stub's, which would taint the node again.
        applyHostFiles(hostPlan(f, 'v0', ctx.host.unitDir), ctx.host.root);
        daemonReload(ctx);
        ctx.host.systemctl(['stop', `${f}.service`]);
        ctx.host.systemctl(['reset-failed', `${f}.service`]);
      },
    },
  );
  if (!opts.nodeOnly) {
    steps.push(
      {
        name: 'delete-objects',
        describe: `delete ${objs.filter((o) => o.kind !== 'DaemonSet').map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`,
        done: async () => {
          for (const o of objs.filter((x) => x.kind !== 'DaemonSet')) if (await objectsPresent(ctx, [o])) return false;
          return true;
        },
        apply: () => deleteObjects(ctx.k, objs.filter((o) => o.kind !== 'DaemonSet')),
      },
      {
        name: 'untaint',
        describe: `remove any ${f}=disabled:NoSchedule taint from ${ctx.node}`,
        done: async () => !(await tainted(ctx)),
        apply: async () => {
          await setTaint(ctx.k, ctx.node, disableTaint(f), false);
        },
      },
    );
  }
  steps.push(
    {
      name: 'feature-state',
      describe: `give FEATURE|${f} back to featured: clear kubesonic's STATE_DB fields, restore CONFIG_DB state`,
      done: async () => {
        const st = await ctx.stateDb.hgetall(featureKey(f));
        const rec = readRecord(ctx);
        const cfg = (await ctx.configDb.hget(featureKey(f), 'state')) ?? undefined;
        return st.current_owner !== 'kube' && (!rec?.configStateBefore || cfg === rec.configStateBefore);
      },
      apply: async () => {
        await ctx.stateDb.hdel(featureKey(f), 'current_owner', 'remote_state', 'container_id');
        const rec = readRecord(ctx);
        if (rec?.configStateBefore) await ctx.configDb.hset(featureKey(f), 'state', rec.configStateBefore);
      },
    },
    {
      name: 'native',
      describe: `restart the native ${f}.service`,
      done: async () => unitActive(ctx) && (await nativeRunning(ctx.host.dockerSocket, f, Date.now() + 30_000).catch(() => undefined)) !== undefined,
      apply: async () => {
        ctx.host.systemctl(['reset-failed', `${f}.service`]);
        const r = ctx.host.systemctl(['restart', `${f}.service`]);
        if (r.code !== 0) throw new Error(`systemctl restart ${f}.service exited ${r.code}`);
      },
    },
  );
  return steps;
}


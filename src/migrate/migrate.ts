// The seed's one-time migration (native container -> DaemonSet pod) as a recipe of idempotent
// steps. Invariant: the native container and the pod never run at the same time — the node keeps
// the kubesonic stop taint until the native container is stopped, and the host-side native marker
// (host/hold.ts) keeps any pod's feature container waiting in its wrapper from before the node is
// opted in until Docker shows no native container; only then are marker and taint released.
import { applyHostFiles } from '../host/files.js';
import { setHold, setNativeMark } from '../host/hold.js';
import { isMigrated, writeRecord } from '../host/records.js';
import { mustSystemctl } from '../host/systemctl.js';
import { disableTaint, hasLabel, runningPod, setLabel, setTaint, stopTaint } from '../kube/cluster.js';
import { optInLabel } from '../kube/ids.js';
import { SWITCH_USER_PREFIX } from '../manifest/access.js';
import { ctrmgrdConflict, DEFAULT_FEATURE_ENTRY } from '../sonic/feature-entry.js';
import { featureKey } from '../sonic/paths.js';
import { dropInPath, hostPlan, nativeLauncherOf } from '../systemd/unit.js';
import { waitUntil } from '../util/wait.js';
import { appliedFeatures, CLUSTER_RECORD } from './cluster-side.js';
import { targetOf, type FlowContext } from './context.js';
import { ExitError, errorLine } from '../util/errors.js';
import {
  daemonReload,
  featureUnitActive,
  imageUnitFile,
  nativeContainer,
  nativeRunning,
  podRunning,
  stubInstalled,
  held,
  heldOff,
  holdDir,
  hostHeld,
  nativeMarked,
  unitName,
} from './facts.js';
import type { Step } from './steps.js';

/**
 * Before any step (and in a dry run): Docker must answer whether the native container runs.
 * Asked here rather than at stop-native, halfway through, so a Docker fault stops migrate with
 * nothing changed — no FEATURE entry, no taint, no DaemonSet.
 */
export async function migratePreflight(ctx: FlowContext, timeoutMs = 30_000): Promise<void> {
  refuseOtherSwitch(ctx, 'migrate');
  await refuseWithoutClusterSide(ctx);
  await refuseUnselectedNode(ctx);
  try {
    await nativeContainer(ctx, timeoutMs);
  } catch (e) {
    throw new ExitError(
      `migrate ${ctx.spec.feature}: cannot tell whether the native ${ctx.spec.feature} container runs (${errorLine(e)}); nothing changed`,
      1,
    );
  }
}

/** A switch's credential names its node: one naming another node is refused before any change. */
export function refuseOtherSwitch(ctx: FlowContext, flow: 'migrate' | 'rollback'): void {
  const id = ctx.identity;
  if (!id?.startsWith(SWITCH_USER_PREFIX)) return;
  const owner = id.slice(SWITCH_USER_PREFIX.length);
  if (owner !== ctx.node)
    throw new ExitError(
      `${flow} ${ctx.spec.feature}: the kubeconfig is switch ${owner}'s identity, this node is ${ctx.node}; nothing changed`,
      1,
    );
}

/** The switch side needs the cluster side (a cluster admin's `kubesonic cluster apply <f>`). */
async function refuseWithoutClusterSide(ctx: FlowContext): Promise<void> {
  const f = ctx.spec.feature;
  let applied: Record<string, string>;
  try {
    applied = await appliedFeatures(ctx.cluster, ctx.spec.namespace);
  } catch (e) {
    throw new ExitError(
      `migrate ${f}: cannot read ConfigMap ${ctx.spec.namespace}/${CLUSTER_RECORD} (${errorLine(e)}); nothing changed`,
      1,
    );
  }
  if (!(f in applied))
    throw new ExitError(
      `migrate ${f}: the cluster side of ${f} is not applied in namespace ${ctx.spec.namespace} (a cluster admin runs \`kubesonic cluster apply ${f}\`); nothing changed`,
      1,
    );
}

/**
 * The spec's own node selector (a canary label, a hwsku) must match this node, or the DaemonSet
 * would never put a pod here and the unit would wait for one that cannot come.
 */
async function refuseUnselectedNode(ctx: FlowContext): Promise<void> {
  const f = ctx.spec.feature;
  const labels = (await ctx.cluster.readNode(ctx.node)).metadata?.labels ?? {};
  const missing = Object.entries(ctx.spec.nodeSelector).filter(([k, v]) => labels[k] !== v);
  if (missing.length)
    throw new ExitError(
      `migrate ${f}: node ${ctx.node} does not match the spec's nodeSelector (${missing.map(([k, v]) => `${k}=${v}`).join(', ')}): no ${f} pod would come here; nothing changed`,
      1,
    );
}

/** ctrmgrd (images with Kubernetes support) would act on the feature: migrate refuses (migrate/ctrmgrd.ts). */
function refuseCtrmgrdConflict(feature: string, config: Readonly<Record<string, string>>): void {
  const why = ctrmgrdConflict(feature, config);
  if (why) throw new ExitError(why, 1);
}

export function migrateSteps(ctx: FlowContext): Step[] {
  const f = ctx.spec.feature;
  const optIn = optInLabel(f);
  return [
    // make sure CONFIG_DB FEATURE|<f> exists; remember its state for rollback
    {
      name: 'feature-entry',
      describe: `make sure CONFIG_DB ${featureKey(f)} exists and record its state for rollback`,
      // Checked first, on every run and on --dry-run: no step runs beside a ctrmgrd that would act.
      done: async () => {
        const config = await ctx.db.read('config', f);
        refuseCtrmgrdConflict(f, config);
        return Object.keys(config).length > 0 && isMigrated(ctx.root, f);
      },
      apply: async () => {
        await ctx.db.setMissing('config', f, DEFAULT_FEATURE_ENTRY);
        refuseCtrmgrdConflict(f, await ctx.db.read('config', f));
        // The record also tells this node's agent to serve the feature (host/records.ts).
        if (!isMigrated(ctx.root, f))
          writeRecord(ctx.root, {
            feature: f,
            migratedAt: new Date().toISOString(),
            configStateBefore: (await ctx.db.read('config', f)).state,
          });
      },
    },
    // hold the node so no pod can start before the native container is stopped
    {
      name: 'hold',
      // kubesonic's own hold, not an operator's disable: it never reaches CONFIG_DB.
      describe: `hold ${ctx.node} (taint ${stopTaint(f).key}, native marker ${holdDir(ctx)}/${f}.native) so no pod starts before the native container is stopped`,
      done: async () => ((await held(ctx)) && nativeMarked(ctx)) || (stubInstalled(ctx) && (await podRunning(ctx))),
      apply: async () => {
        // The marker first, on the host: whatever pod comes (the taint only keeps new ones off the
        // node), its container waits in its wrapper until release has seen no native container.
        setNativeMark(holdDir(ctx), f, true, 'kubesonic migrate: the native container may run');
        await setTaint(ctx.cluster, ctx.node, stopTaint(f), true);
      },
    },
    // opt this node in: the cluster's DaemonSet (applied once by an admin) selects it from now on
    {
      name: 'opt-in',
      describe: `label ${ctx.node} ${optIn.key}=${optIn.value} so the cluster's ${f} DaemonSet selects it (held until the native container is stopped)`,
      done: async () => hasLabel(await ctx.cluster.readNode(ctx.node), optIn),
      apply: async () => {
        await setLabel(ctx.cluster, ctx.node, optIn, true);
      },
    },
    // the image's unit stops the native container; nothing named <f> left running in Docker
    {
      name: 'stop-native',
      describe: `stop the native ${unitName(ctx)} and make sure no Docker container named ${f} runs`,
      done: async () => (stubInstalled(ctx) || !featureUnitActive(ctx)) && !(await nativeRunning(ctx)),
      apply: async () => {
        if (!stubInstalled(ctx) && featureUnitActive(ctx)) ctx.systemctl.run(['stop', unitName(ctx)]);
        // A Docker fault here throws: the node keeps its hold taint, so no pod starts meanwhile.
        const native = await nativeContainer(ctx);
        if (native) await ctx.docker.stop(native.id, 10, Date.now() + 30_000);
      },
    },
    // the unit becomes the proxy of the pod
    {
      name: 'stub',
      describe: `install ${dropInPath(f, ctx.unitDir)} (unit proxies to the pod) and daemon-reload`,
      done: async () => stubInstalled(ctx),
      apply: async () => {
        const native = nativeLauncherOf(imageUnitFile(ctx) ?? '');
        if (!native && ctx.spec.fallbackSeconds > 0)
          ctx.out(`  no launcher (ExecStartPre=… start) in ${unitName(ctx)}: local fallback off`);
        const r = applyHostFiles(hostPlan(f, 'v1', ctx.unitDir, { seconds: ctx.spec.fallbackSeconds, native }), ctx.root);
        for (const b of r.backups) ctx.out(`  backed up ${b}`);
        daemonReload(ctx);
        // Lets the sidecar (hostPath mounts only, no privileges) ask for later reloads.
        ctx.systemctl.run(['enable', '--now', 'kubesonic-reload.path']);
        // Taints that could not follow a stop or start while the API server was away.
        ctx.systemctl.run(['enable', '--now', 'kubesonic-taints.timer']);
      },
    },
    // let the DaemonSet start the pod: the native marker goes only once Docker shows no native container
    {
      name: 'release',
      describe: `check that no native ${f} container runs, remove the native marker and release the hold so the DaemonSet starts ${f} on ${ctx.node}`,
      // Only meaningful once the unit is the proxy: before that, "no taint" is the native state.
      done: async () => stubInstalled(ctx) && !hostHeld(ctx) && !nativeMarked(ctx) && !(await heldOff(ctx)),
      apply: async () => {
        // Only a provably absent Docker counts as "none": a Docker fault throws here and the marker
        // stays, so no pod's container leaves its wrapper next to a native one.
        const native = await nativeContainer(ctx);
        if (native)
          throw new ExitError(
            `migrate ${f}: a native ${f} container (${native.id.slice(0, 12)}) runs again; the native marker stays — stop it and run migrate again`,
            1,
          );
        setNativeMark(holdDir(ctx), f, false);
        // A hold left by an earlier migration's stop would keep the new pod's container waiting.
        setHold(holdDir(ctx), f, false);
        // Starting the feature under Kubernetes lifts an operator's old disable too, as `systemctl start` does.
        await setTaint(ctx.cluster, ctx.node, stopTaint(f), false);
        await setTaint(ctx.cluster, ctx.node, disableTaint(f), false);
      },
    },
    // wait for the pod
    {
      name: 'running',
      describe: `wait for the ${f} pod on ${ctx.node} to run`,
      done: () => podRunning(ctx),
      apply: async () => {
        await waitUntil(`${f} pod running`, ctx.timeoutMs, () => runningPod(ctx.cluster, targetOf(ctx)), ctx.pollMs ?? 1000);
      },
    },
    // the proxy unit active, so systemd, featured and system-health see the feature up
    {
      name: 'unit',
      describe: `start ${unitName(ctx)} (now the proxy) so systemd, featured and system-health see it active`,
      done: async () => stubInstalled(ctx) && featureUnitActive(ctx),
      apply: async () => {
        ctx.systemctl.run(['reset-failed', unitName(ctx)]);
        mustSystemctl(ctx.systemctl, ['start', unitName(ctx)]);
      },
    },
  ];
}

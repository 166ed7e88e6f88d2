// Rollback: give the feature back to the image's systemd unit, on this switch only, as a recipe of
// idempotent steps. The node is held and opted out, so the cluster's DaemonSet keeps no pod here;
// the pod is gone before the drop-in is removed and the native unit restarted, so the two never run
// together. Other switches and the cluster side are untouched (the fleet-wide removal is the admin's
// `kubesonic cluster remove`, migrate/cluster-side.ts).
import { applyHostFiles } from '../host/files.js';
import { setHold, setNativeMark } from '../host/hold.js';
import { mustSystemctl, unitMasked } from '../host/systemctl.js';
import { deleteFeaturePodsAndWait, disableTaint, featurePods, hasLabel, setLabel, setTaint, stopTaint } from '../kube/cluster.js';
import { optInLabel } from '../kube/ids.js';
import { forgetRecord, isMigrated, retireRecord } from '../host/records.js';
import { dropInPath, hostPlan } from '../systemd/unit.js';
import { targetOf, type FlowContext } from './context.js';
import {
  daemonReload,
  featureUnitActive,
  nativeRunning,
  readRecord,
  stubInstalled,
  held,
  heldOff,
  holdDir,
  hostHeld,
  nativeMarked,
  unitName,
} from './facts.js';
import type { Step } from './steps.js';
import { NATIVE_STOPPED_FIELD, OOM_FIELDS } from '../feature/state.js';

/** STATE_DB fields kubesonic owns and hands back to featured. */
const OWNED_STATE_FIELDS = [
  'current_owner',
  'remote_state',
  'container_id',
  'container_version',
  ...Object.values(OOM_FIELDS),
  NATIVE_STOPPED_FIELD,
] as const;

/**
 * STATE_DB still holds what kubesonic wrote: a pod's 12-hex container id (the native `container`
 * wrapper writes the feature's name), remote_state pending/stopped, the OOM record, the unit shell's
 * count of native containers it stopped, or 0.x's current_owner=kube. What the native unit writes
 * once it runs again does not count.
 */
function kubesonicStateLeft(feature: string, s: Readonly<Record<string, string>>): boolean {
  return (
    (s.container_id !== undefined && s.container_id !== feature && /^[0-9a-f]{12}$/.test(s.container_id)) ||
    s.remote_state === 'pending' ||
    s.remote_state === 'stopped' ||
    s.current_owner === 'kube' ||
    OOM_FIELDS.count in s ||
    NATIVE_STOPPED_FIELD in s
  );
}

export function rollbackSteps(ctx: FlowContext): Step[] {
  const f = ctx.spec.feature;
  const optIn = optInLabel(f);

  const retire: Step = {
    name: 'retire',
    describe: `retire the migration record: the node agent stops writing FEATURE|${f} and its unit state`,
    done: async () => !isMigrated(ctx.root, f),
    apply: async () => retireRecord(ctx.root, f),
  };
  const hold: Step = {
    name: 'hold',
    describe: `hold ${ctx.node} (taint ${stopTaint(f).key}) so no pod of ${f} starts here meanwhile`,
    // Not needed once the node is opted out with no pod left (a rerun after a whole rollback).
    done: async () =>
      (await held(ctx)) ||
      (!hasLabel(await ctx.cluster.readNode(ctx.node), optIn) && (await featurePods(ctx.cluster, targetOf(ctx))).length === 0),
    apply: async () => {
      await setTaint(ctx.cluster, ctx.node, stopTaint(f), true);
    },
  };
  const optOut: Step = {
    name: 'opt-out',
    describe: `remove label ${optIn.key} from ${ctx.node}: the cluster's ${f} DaemonSet no longer selects it`,
    done: async () => !hasLabel(await ctx.cluster.readNode(ctx.node), optIn),
    apply: async () => {
      await setLabel(ctx.cluster, ctx.node, optIn, false);
    },
  };
  const podsGone: Step = {
    name: 'pods-gone',
    describe: `delete the ${f} pod on ${ctx.node} and wait until it is gone`,
    done: async () => (await featurePods(ctx.cluster, targetOf(ctx))).length === 0,
    apply: async () => {
      await deleteFeaturePodsAndWait(ctx.cluster, targetOf(ctx), ctx.timeoutMs, () => undefined, ctx.pollMs ?? 1000);
    },
  };
  const unstub: Step = {
    name: 'unstub',
    describe: `remove ${dropInPath(f, ctx.unitDir)} and daemon-reload: ${unitName(ctx)} is the image's unit again`,
    done: async () => !stubInstalled(ctx) && !hostHeld(ctx) && !nativeMarked(ctx),
    apply: async () => {
      // The image's unit knows neither the hold nor the native marker: none may outlive the stub (a
      // later migrate would start held). The pod is gone by now: nothing waits on them.
      setHold(holdDir(ctx), f, false);
      setNativeMark(holdDir(ctx), f, false);
      // Drop-in first: the stop that follows is then the image's own (docker stop of a container
      // that is not there), not the stub's, which would taint the node again.
      applyHostFiles(hostPlan(f, 'v0', ctx.unitDir), ctx.root);
      daemonReload(ctx);
      ctx.systemctl.run(['stop', unitName(ctx)]);
      ctx.systemctl.run(['reset-failed', unitName(ctx)]);
    },
  };
  const forget: Step = {
    name: 'forget',
    describe: `remove the migration record of ${f}`,
    done: async () => readRecord(ctx) === undefined,
    apply: async () => forgetRecord(ctx.root, f),
  };
  const untaint: Step = {
    name: 'untaint',
    describe: `remove ${f}'s taints (kubesonic's hold, an operator's ${f}=disabled:NoSchedule) from ${ctx.node}`,
    done: async () => !(await heldOff(ctx)),
    apply: async () => {
      await setTaint(ctx.cluster, ctx.node, stopTaint(f), false);
      await setTaint(ctx.cluster, ctx.node, disableTaint(f), false);
    },
  };
  const featureState: Step = {
    name: 'feature-state',
    describe: `give FEATURE|${f} back to featured: clear kubesonic's STATE_DB fields, restore CONFIG_DB state`,
    done: async () => {
      const before = readRecord(ctx)?.configStateBefore;
      return !kubesonicStateLeft(f, await ctx.db.read('state', f)) && (!before || (await ctx.db.read('config', f)).state === before);
    },
    apply: async () => {
      // First what a native local start writes, in one HSET, then the removal: ctrmgrd never sees
      // remote_state leave "stopped" with current_owner other than local, which makes it restart the
      // unit (ctrmgrd.py:574; test/unit/ctrmgrd-decisions.test.ts).
      await ctx.db.set('state', f, { current_owner: 'local', remote_state: 'none' });
      await ctx.db.remove('state', f, OWNED_STATE_FIELDS);
      const before = readRecord(ctx)?.configStateBefore;
      if (before) await ctx.db.set('config', f, { state: before });
    },
  };
  const native: Step = {
    name: 'native',
    describe: `restart the native ${unitName(ctx)} (left stopped if featured masked it: the feature is disabled)`,
    // Done only when Docker shows it running: a Docker fault reads as "not done" and the (idempotent)
    // restart runs; the pod is gone by now, so there is nothing to run next to. A masked unit is
    // featured's disable: the image's unit is handed back as featured left it, not started.
    done: async () => unitMasked(ctx.systemctl, unitName(ctx)) || (featureUnitActive(ctx) && (await nativeRunning(ctx).catch(() => false))),
    apply: async () => {
      ctx.systemctl.run(['reset-failed', unitName(ctx)]);
      mustSystemctl(ctx.systemctl, ['restart', unitName(ctx)]);
    },
  };

  return [retire, hold, optOut, podsGone, unstub, untaint, featureState, native, forget];
}

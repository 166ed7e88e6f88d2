// Every migrate and rollback step on a fake switch (test/fakes/switch.ts): not done where it should
// run, done after apply, idempotent, converging after a crash at any point, and the native
// container and the pod never running together. The same flows run on real parts in
// test/system/e2e-bmp.test.ts.
import { describe, expect, it } from 'vitest';
import { migratePreflight, migrateSteps, refuseOtherSwitch } from '../../src/migrate/migrate.js';
import {
  appliedFeatures,
  clusterApplyPreflight,
  clusterApplySteps,
  clusterRemovePreflight,
  clusterRemoveSteps,
} from '../../src/migrate/cluster-side.js';
import { optInLabel } from '../../src/kube/ids.js';
import { ExitError } from '../../src/util/errors.js';
import { rollbackSteps } from '../../src/migrate/rollback.js';
import { runSteps, type Step } from '../../src/migrate/steps.js';
import { holdDir, nativeMarked, readRecord } from '../../src/migrate/facts.js';
import { setNativeMark } from '../../src/host/hold.js';
import { agentFeatures } from '../../src/manifest/render.js';
import { parseFeatureSpec } from '../../src/manifest/spec.js';
import { migratedFeatures } from '../../src/host/records.js';
import { BMP_SPEC, fakeSwitch, nativeSwitch, NODE, type FakeSwitch } from '../fakes/switch.js';

const MIGRATE = ['feature-entry', 'hold', 'opt-in', 'stop-native', 'stub', 'release', 'running', 'unit'];
const ROLLBACK = ['retire', 'hold', 'opt-out', 'pods-gone', 'unstub', 'untaint', 'feature-state', 'native', 'forget'];

const quiet = { dryRun: false, out: () => undefined };

/** A migrated switch, with FEATURE as the sidecar leaves it after an operator disabled and re-enabled nothing. */
async function migrated(): Promise<FakeSwitch> {
  const sw = nativeSwitch();
  sw.db.seed('config', 'bmp', { state: 'enabled', auto_restart: 'enabled', custom: 'keep' });
  await runSteps(migrateSteps(sw.ctx), quiet);
  sw.db.seed('state', 'bmp', {
    state: 'enabled',
    current_owner: 'local',
    remote_state: 'none',
    container_id: 'abcdef012345',
    container_version: '1',
    up_status: 'true',
    // The unit's shell stopped a native container started behind the pod's back once.
    native_stopped_count: '1',
  });
  return sw;
}

/** Runs the steps, "crashing" (throwing) right after `crashAfter` if it runs at all. */
async function runCrashingAfter(steps: Step[], crashAfter: string): Promise<void> {
  await runSteps(steps, {
    ...quiet,
    afterStep: (name) => {
      if (name === crashAfter) throw new Error(`crash after ${name}`);
    },
  }).catch((e: Error) => {
    if (e.message !== `crash after ${crashAfter}`) throw e;
  });
}

/** Where a switch stands, in the terms the steps care about. */
function facts(sw: FakeSwitch) {
  return {
    native: sw.docker.isRunning('bmp'),
    pod: sw.cluster.runningPodsOf('bmp', NODE).length,
    unit: sw.systemctl.active.has('bmp.service'),
    stub: sw.stubInstalled(),
    tainted: sw.cluster.tainted('bmp', NODE),
    daemonSet: [...sw.cluster.objects.keys()].some((k) => k.startsWith('DaemonSet/')),
    optedIn: sw.cluster.nodes.get(NODE)?.metadata?.labels?.[optInLabel('bmp').key] === 'enabled',
  };
}

describe('migrate, step by step', () => {
  it("has the seed's eight steps in order", () => {
    expect(migrateSteps(fakeSwitch().ctx).map((s) => s.name)).toEqual(MIGRATE);
  });

  it.each(MIGRATE.map((name, i) => [name, i] as const))('%s: not done after the steps before it; done after its apply', async (name, i) => {
    const sw = nativeSwitch();
    const steps = migrateSteps(sw.ctx);
    // The DaemonSet controller would start the pod at once after release; hold it back to see "running" undone.
    if (name === 'running') sw.cluster.controllers = false;
    for (const s of steps.slice(0, i)) await s.apply();
    const step = steps[i]!;
    expect(await step.done()).toBe(false);
    sw.cluster.controllers = true;
    await step.apply();
    expect(await step.done()).toBe(true);
    expect(sw.violations).toEqual([]);
  });

  it('a dry run says "would" for every step and changes nothing', async () => {
    const sw = nativeSwitch();
    const lines: string[] = [];
    const reports = await runSteps(migrateSteps(sw.ctx), { dryRun: true, out: (l) => lines.push(l) });
    expect(reports.map((r) => r.outcome)).toEqual(MIGRATE.map(() => 'would run'));
    expect(lines[0]).toBe('[1/8] feature-entry: would make sure CONFIG_DB FEATURE|bmp exists and record its state for rollback');
    expect(lines[3]).toBe('[4/8] stop-native: would stop the native bmp.service and make sure no Docker container named bmp runs');
    expect(sw.db.writes).toEqual([]);
    expect(sw.cluster.calls.filter((c) => /^(apply|delete|deletePod|replaceNodeTaints|setNodeLabel)/.test(c))).toEqual([]);
    expect(sw.systemctl.calls.filter((c) => !c.startsWith('is-active'))).toEqual(['start bmp.service']);
    expect(facts(sw)).toMatchObject({ native: true, pod: 0, unit: true, stub: false, tainted: false, optedIn: false });
  });

  it('from a native switch: the pod runs, the native container does not, the unit is the proxy, never both running', async () => {
    const sw = await migrated();
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true, optedIn: true });
    expect(sw.violations).toEqual([]);
    expect(migratedFeatures(sw.root)).toEqual(['bmp']);
    // CONFIG_DB: only fields that were missing were added; the operator's fields stand.
    expect(sw.db.get('config', 'bmp')).toMatchObject({ state: 'enabled', auto_restart: 'enabled', custom: 'keep', set_owner: 'local' });
    expect(readRecord(sw.ctx)?.configStateBefore).toBe('enabled');
  });

  it('a rerun finds every step done and changes nothing', async () => {
    const sw = await migrated();
    const writes = sw.db.writes.length;
    const reports = await runSteps(migrateSteps(sw.ctx), quiet);
    expect(reports.map((r) => r.outcome)).toEqual(MIGRATE.map(() => 'already done'));
    expect(sw.db.writes.length).toBe(writes);
  });

  it.each(MIGRATE)('a crash right after %s, then a rerun: same end state, never both running', async (crashAfter) => {
    const sw = nativeSwitch();
    await runCrashingAfter(migrateSteps(sw.ctx), crashAfter);
    const reports = await runSteps(migrateSteps(sw.ctx), quiet);
    expect(reports.find((r) => r.name === crashAfter)?.outcome).toBe('already done');
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true, optedIn: true });
    expect(sw.violations).toEqual([]);
  });

  it("a native container started behind the unit's back is stopped by stop-native", async () => {
    const sw = fakeSwitch();
    sw.docker.run('bmp'); // `docker start bmp` by hand: the unit is not active
    const stopNative = migrateSteps(sw.ctx).find((s) => s.name === 'stop-native')!;
    expect(await stopNative.done()).toBe(false);
    await stopNative.apply();
    expect(sw.docker.isRunning('bmp')).toBe(false);
  });

  it('the native marker is on from the hold step (before opt-in) until release, which clears it only once Docker shows no native bmp', async () => {
    const sw = nativeSwitch();
    const steps = migrateSteps(sw.ctx);
    const at = (name: string) => steps.findIndex((s) => s.name === name);
    for (const s of steps.slice(0, at('hold'))) await s.apply();
    expect(nativeMarked(sw.ctx)).toBe(false);
    await steps[at('hold')]!.apply();
    expect(nativeMarked(sw.ctx)).toBe(true);
    for (const s of steps.slice(at('hold') + 1, at('release'))) await s.apply();
    expect(nativeMarked(sw.ctx)).toBe(true);
    // A pod that is there anyway (the taint keeps only new ones off) waits: its daemon does not run.
    await sw.cluster.replaceNodeTaints(await sw.cluster.readNode(NODE), []);
    expect(sw.cluster.podsOf('bmp', NODE)).toHaveLength(1);
    expect(sw.cluster.runningPodsOf('bmp', NODE)).toHaveLength(0);
    const release = steps[at('release')]!;
    // Docker does not answer: release throws and the marker stays (could not see is not "none").
    sw.docker.fault = 'refused';
    await expect(release.apply()).rejects.toThrow();
    expect(nativeMarked(sw.ctx)).toBe(true);
    expect(await release.done()).toBe(false);
    // A native bmp started by hand meanwhile: release refuses, the marker stays.
    sw.docker.fault = undefined;
    sw.docker.run('bmp');
    await expect(release.apply()).rejects.toThrow(/a native bmp container \([0-9a-f]{12}\) runs again; the native marker stays/);
    expect(nativeMarked(sw.ctx)).toBe(true);
    expect(sw.cluster.runningPodsOf('bmp', NODE)).toHaveLength(0);
    sw.docker.halt('bmp');
    await release.apply();
    expect(nativeMarked(sw.ctx)).toBe(false);
    expect(await release.done()).toBe(true);
    expect(sw.cluster.runningPodsOf('bmp', NODE)).toHaveLength(1);
    expect(sw.violations).toEqual([]);
  });

  it('Docker absent (no socket) at release: nothing native can run, the marker goes', async () => {
    const sw = nativeSwitch();
    const steps = migrateSteps(sw.ctx);
    const release = steps.findIndex((s) => s.name === 'release');
    for (const s of steps.slice(0, release)) await s.apply();
    sw.docker.fault = 'absent';
    await steps[release]!.apply();
    expect(nativeMarked(sw.ctx)).toBe(false);
  });

  it('stop: a failing `systemctl start` of the proxy unit is a one-line error', async () => {
    const sw = nativeSwitch();
    const steps = migrateSteps(sw.ctx);
    for (const s of steps.slice(0, 7)) await s.apply();
    sw.systemctl.active.delete('bmp.service');
    sw.systemctl.failing.add('bmp.service');
    await expect(steps[7]!.apply()).rejects.toThrow(/^systemctl start bmp.service exited 1: Job for bmp.service failed\.$/);
  });

  it('running: times out with the feature named when no pod comes', async () => {
    const sw = nativeSwitch();
    const steps = migrateSteps({ ...sw.ctx, timeoutMs: 50 });
    for (const s of steps.slice(0, 6)) await s.apply();
    sw.cluster.controllers = false;
    for (const p of sw.cluster.podsOf('bmp', NODE)) sw.cluster.pods.delete(p.metadata!.uid!);
    await expect(steps[6]!.apply()).rejects.toThrow(/timed out after 0 s waiting for bmp pod running/);
  });
});

describe('rollback, step by step (this switch only)', () => {
  it('the steps in order', () => {
    expect(rollbackSteps(fakeSwitch().ctx).map((s) => s.name)).toEqual(ROLLBACK);
  });

  it.each(ROLLBACK.map((name, i) => [name, i] as const))(
    '%s: not done after the steps before it; done after its apply',
    async (name, i) => {
      const sw = await migrated();
      // untaint has something to do only where the feature was disabled by the taint at rollback time.
      if (name === 'untaint')
        await sw.cluster.replaceNodeTaints(await sw.cluster.readNode(NODE), [{ key: 'bmp', value: 'disabled', effect: 'NoSchedule' }]);
      // The DaemonSet controller takes its time to delete the pod of a node it no longer selects.
      if (name === 'pods-gone') sw.cluster.controllers = false;
      const steps: Step[] = rollbackSteps(sw.ctx);
      for (const s of steps.slice(0, i)) await s.apply();
      expect(await steps[i]!.done()).toBe(false);
      await steps[i]!.apply();
      expect(await steps[i]!.done()).toBe(true);
      expect(sw.violations).toEqual([]);
    },
  );

  it("gives the feature back: native running, no pod, node opted out, FEATURE handed back; the cluster's DaemonSet stays", async () => {
    const sw = await migrated();
    await sw.db.set('config', 'bmp', { state: 'disabled' }); // what the sidecar mirrored while Kubernetes ran it
    await runSteps(rollbackSteps(sw.ctx), quiet);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: true, optedIn: false });
    expect(sw.db.get('state', 'bmp')).toEqual({ state: 'enabled', up_status: 'true' });
    expect(sw.db.get('config', 'bmp')).toMatchObject({ state: 'enabled', custom: 'keep' });
    expect(sw.violations).toEqual([]);
    expect(sw.cluster.calls.filter((c) => /^(apply|delete )/.test(c))).toEqual([]);
    expect((await runSteps(rollbackSteps(sw.ctx), quiet)).map((r) => r.outcome)).toEqual(ROLLBACK.map(() => 'already done'));
  });

  it('a unit featured masked (the feature disabled): handed back masked and not started; no native container', async () => {
    const sw = await migrated();
    // featured's disable: stop, disable, mask.
    sw.systemctl.run(['stop', 'bmp.service']);
    sw.systemctl.run(['mask', 'bmp.service']);
    await runSteps(rollbackSteps(sw.ctx), quiet);
    expect(facts(sw)).toMatchObject({ native: false, pod: 0, unit: false, stub: false, optedIn: false });
    expect(sw.systemctl.masked.has('bmp.service')).toBe(true);
    // featured's enable later: unmask, enable, start: the image's unit runs the native container.
    sw.systemctl.run(['unmask', 'bmp.service']);
    sw.systemctl.run(['start', 'bmp.service']);
    expect(facts(sw)).toMatchObject({ native: true, unit: true });
    expect(sw.violations).toEqual([]);
  });

  it("unstub removes the native marker with the hold: the image's unit knows neither", async () => {
    const sw = await migrated();
    setNativeMark(holdDir(sw.ctx), 'bmp', true);
    const steps = rollbackSteps(sw.ctx);
    const unstub = steps.findIndex((s) => s.name === 'unstub');
    for (const s of steps.slice(0, unstub)) await s.apply();
    expect(await steps[unstub]!.done()).toBe(false);
    await steps[unstub]!.apply();
    expect(nativeMarked(sw.ctx)).toBe(false);
    expect(await steps[unstub]!.done()).toBe(true);
  });

  it.each(ROLLBACK)('a crash right after %s, then a rerun: the same end state', async (crashAfter) => {
    const sw = await migrated();
    await runCrashingAfter(rollbackSteps(sw.ctx), crashAfter);
    await runSteps(rollbackSteps(sw.ctx), quiet);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: true, optedIn: false });
    expect(sw.violations).toEqual([]);
  });
});

describe('the cluster side (an admin, once) and the switch side (each switch, its own node)', () => {
  const TELEMETRY = BMP_SPEC.replace('feature: bmp', 'feature: telemetry').replace('mainProcess: openbmpd', 'mainProcess: telemetry');
  const served = async (sw: FakeSwitch) =>
    agentFeatures(
      await sw.cluster.get({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'kubesonic-agent', namespace: 'sonic' } }),
    );
  const admin = (sw: FakeSwitch, specText = BMP_SPEC) => ({
    spec: parseFeatureSpec(specText, 'admin'),
    cluster: sw.cluster,
    out: () => undefined,
  });
  const LEAF2 = 'leaf2';
  const mutations = (sw: FakeSwitch) => sw.cluster.calls.filter((c) => /^(apply|delete|deletePod|replaceNodeTaints|setNodeLabel)/.test(c));

  it('cluster apply: the objects, the agent and the record; idempotent; pods only on opted-in nodes', async () => {
    const sw = fakeSwitch(BMP_SPEC, { clusterSide: false });
    sw.cluster.addNode(LEAF2);
    const steps = clusterApplySteps(admin(sw));
    expect(steps.map((s) => s.name)).toEqual(['objects', 'record']);
    for (const s of steps) expect(await s.done()).toBe(false);
    await runSteps(steps, quiet);
    expect(await served(sw)).toEqual(['bmp']);
    expect(Object.keys(await appliedFeatures(sw.cluster, 'sonic'))).toEqual(['bmp']);
    expect((await runSteps(clusterApplySteps(admin(sw)), quiet)).map((r) => r.outcome)).toEqual(['already done', 'already done']);
    expect([NODE, LEAF2].map((n) => sw.cluster.podsOf('bmp', n).length)).toEqual([0, 0]);
    await sw.cluster.setNodeLabel(LEAF2, optInLabel('bmp').key, 'enabled');
    expect(sw.cluster.podsOf('bmp', LEAF2)).toHaveLength(1);
    expect(sw.cluster.podsOf('bmp', NODE)).toHaveLength(0);
  });

  it('cluster apply of a changed spec (a new image) re-applies the DaemonSet; the same spec again changes nothing', async () => {
    const sw = fakeSwitch(BMP_SPEC, { clusterSide: false });
    await runSteps(clusterApplySteps(admin(sw)), quiet);
    const NEW = BMP_SPEC.replace('docker-sonic-bmp:latest', 'docker-sonic-bmp:4.1.0');
    const reports = await runSteps(clusterApplySteps(admin(sw, NEW)), quiet);
    expect(reports.map((r) => r.outcome)).toEqual(['done', 'done']);
    const ds = (await sw.cluster.get({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'bmp', namespace: 'sonic' } })) as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(ds.spec.template.spec.containers[0]!.image).toBe('docker-sonic-bmp:4.1.0');
    expect((await runSteps(clusterApplySteps(admin(sw, NEW)), quiet)).map((r) => r.outcome)).toEqual(['already done', 'already done']);
  });

  it('a second feature: the record keeps both keys and the agent serves both; removing one keeps the other', async () => {
    const sw = fakeSwitch(BMP_SPEC, { clusterSide: false });
    await runSteps(clusterApplySteps(admin(sw)), quiet);
    await runSteps(clusterApplySteps(admin(sw, TELEMETRY)), quiet);
    expect(Object.keys(await appliedFeatures(sw.cluster, 'sonic')).sort()).toEqual(['bmp', 'telemetry']);
    expect(await served(sw)).toEqual(['bmp', 'telemetry']);
    await runSteps(clusterRemoveSteps(admin(sw)), quiet);
    expect(Object.keys(await appliedFeatures(sw.cluster, 'sonic'))).toEqual(['telemetry']);
    expect(await served(sw)).toEqual(['telemetry']);
    await runSteps(clusterRemoveSteps(admin(sw, TELEMETRY)), quiet);
    expect([...sw.cluster.objects.keys()].filter((k) => !k.startsWith('ConfigMap/'))).toEqual([]);
  });

  it('migrate where the cluster side was never applied: one line, nothing changed', async () => {
    const sw = nativeSwitch(BMP_SPEC, { clusterSide: false });
    const err = await migratePreflight(sw.ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ExitError);
    expect((err as Error).message).toBe(
      'migrate bmp: the cluster side of bmp is not applied in namespace sonic (a cluster admin runs `kubesonic cluster apply bmp`); nothing changed',
    );
    expect(sw.db.writes).toEqual([]);
    expect(mutations(sw)).toEqual([]);
    expect(facts(sw)).toMatchObject({ native: true, pod: 0, unit: true, stub: false, optedIn: false });
  });

  it.each([
    ['another switch', 'system:serviceaccount:kubesonic-switches:leaf2', "the kubeconfig is switch leaf2's identity, this node is leaf1"],
    ['this switch', 'system:serviceaccount:kubesonic-switches:leaf1', undefined],
    ['an admin or the lab operator', 'system:serviceaccount:sonic:kubesonic-operator', undefined],
    ['a credential that says nothing (a client certificate)', undefined, undefined],
  ] as const)('migrate and rollback with the identity of %s', async (_who, identity, refused) => {
    const sw = nativeSwitch();
    const ctx = { ...sw.ctx, identity };
    const m = await migratePreflight(ctx).then(
      () => undefined,
      (e: Error) => e.message,
    );
    let r: string | undefined;
    try {
      refuseOtherSwitch(ctx, 'rollback');
    } catch (e) {
      r = (e as Error).message;
    }
    expect(m).toBe(refused && `migrate bmp: ${refused}; nothing changed`);
    expect(r).toBe(refused && `rollback bmp: ${refused}; nothing changed`);
    expect(mutations(sw)).toEqual([]);
  });

  it('a spec whose nodeSelector this node does not match: migrate refuses with one line, nothing changed; cluster apply refuses a selector that matches no node', async () => {
    const CANARY = `${BMP_SPEC}nodeSelector: { sonic.hwsku: SN2700 }\n`;
    const sw = nativeSwitch(CANARY);
    const err = await migratePreflight(sw.ctx).catch((e: Error) => e.message);
    expect(err).toBe(
      "migrate bmp: node leaf1 does not match the spec's nodeSelector (sonic.hwsku=SN2700): no bmp pod would come here; nothing changed",
    );
    expect(sw.db.writes).toEqual([]);
    expect(mutations(sw)).toEqual([]);
    const empty = fakeSwitch(CANARY, { clusterSide: false });
    const lines: string[] = [];
    const ctx = { ...admin(empty, CANARY), out: (l: string) => lines.push(l) };
    expect(await clusterApplyPreflight(ctx, false).catch((e: Error) => e.message)).toBe(
      "cluster apply bmp: no node matches the spec's nodeSelector (sonic.hwsku=SN2700): label the nodes first, or --allow-no-nodes; nothing changed",
    );
    await clusterApplyPreflight(ctx, true);
    expect(lines).toEqual([
      "cluster apply bmp: no node matches the spec's nodeSelector (sonic.hwsku=SN2700): applied all the same (--allow-no-nodes)",
    ]);
    // Once the node has the label: both pass.
    await empty.cluster.setNodeLabel(NODE, 'sonic.hwsku', 'SN2700');
    await clusterApplyPreflight(ctx, false);
    await sw.cluster.setNodeLabel(NODE, 'sonic.hwsku', 'SN2700');
    await migratePreflight(sw.ctx);
  });

  it("migrate on one switch puts no pod on another; rollback on it leaves the other's pod alone", async () => {
    const sw = nativeSwitch();
    sw.cluster.addNode(LEAF2);
    await runSteps(migrateSteps(sw.ctx), quiet);
    expect(sw.cluster.podsOf('bmp', LEAF2)).toHaveLength(0);
    // leaf2 migrates too (its own switch labels it).
    await sw.cluster.setNodeLabel(LEAF2, optInLabel('bmp').key, 'enabled');
    const other = sw.cluster.runningPodsOf('bmp', LEAF2);
    expect(other).toHaveLength(1);
    await runSteps(rollbackSteps(sw.ctx), quiet);
    expect(sw.cluster.runningPodsOf('bmp', LEAF2).map((p) => p.metadata?.uid)).toEqual([other[0]!.metadata?.uid]);
    expect(sw.cluster.nodes.get(LEAF2)?.metadata?.labels?.[optInLabel('bmp').key]).toBe('enabled');
    expect(mutations(sw).filter((c) => c.includes(LEAF2) && !c.startsWith('setNodeLabel leaf2'))).toEqual([]);
    expect(await served(sw)).toEqual(['bmp']);
  });

  it('cluster remove is refused while a node is opted in (named), nothing changed; --force and after rollbacks it goes', async () => {
    const sw = nativeSwitch();
    await runSteps(migrateSteps(sw.ctx), quiet);
    const before = mutations(sw).length;
    const err = await clusterRemovePreflight(admin(sw), false).catch((e: Error) => e.message);
    expect(err).toBe(
      'cluster remove bmp: 1 node(s) still opted in (leaf1): run `kubesonic rollback bmp` on each, or --force; nothing changed',
    );
    expect(mutations(sw).length).toBe(before);
    const lines: string[] = [];
    await clusterRemovePreflight({ ...admin(sw), out: (l: string) => lines.push(l) }, true);
    expect(lines).toEqual(['--force: 1 node(s) still opted in lose their bmp pod (leaf1); roll each back on the switch']);
    await runSteps(rollbackSteps(sw.ctx), quiet);
    await clusterRemovePreflight(admin(sw), false);
    await runSteps(clusterRemoveSteps(admin(sw)), quiet);
    expect([...sw.cluster.objects.keys()]).toEqual(['ConfigMap/sonic/kubesonic-cluster']);
    expect(await appliedFeatures(sw.cluster, 'sonic')).toEqual({});
    expect(facts(sw)).toMatchObject({ native: true, pod: 0, daemonSet: false });
  });
});

describe("the seed's per-feature sidecar shape", () => {
  const SIDECAR = `${BMP_SPEC}sync: sidecar\n`;

  it('the cluster side is the feature with its sidecar and RBAC, no agent; migrate and rollback change only the node', async () => {
    const sw = nativeSwitch(SIDECAR);
    expect([...sw.cluster.objects.keys()].sort()).toEqual([
      'ClusterRole//kubesonic:sonic:bmp-kubesonic',
      'ClusterRoleBinding//kubesonic:sonic:bmp-kubesonic',
      'ConfigMap/sonic/kubesonic-cluster',
      'DaemonSet/sonic/bmp',
      'Role/sonic/bmp-kubesonic',
      'RoleBinding/sonic/bmp-kubesonic',
      'ServiceAccount/sonic/bmp-kubesonic',
    ]);
    const objects = [...sw.cluster.objects.keys()];
    await runSteps(migrateSteps(sw.ctx), quiet);
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true, optedIn: true });
    await runSteps(rollbackSteps(sw.ctx), quiet);
    expect([...sw.cluster.objects.keys()]).toEqual(objects);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: true, optedIn: false });
    expect(sw.violations).toEqual([]);
  });
});

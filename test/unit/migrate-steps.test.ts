// Every migrate and rollback step on a fake switch (test/fakes/switch.ts): not done where it should
// run, done after apply, idempotent, converging after a crash at any point, and the native
// container and the pod never running together. The same flows run on real parts in
// test/system/e2e-bmp.test.ts.
import { describe, expect, it } from 'vitest';
import { migrateSteps } from '../../src/migrate/migrate.js';
import { rollbackSteps } from '../../src/migrate/rollback.js';
import { runSteps, type Step } from '../../src/migrate/steps.js';
import { readRecord } from '../../src/migrate/facts.js';
import { agentFeatures } from '../../src/manifest/render.js';
import { parseFeatureSpec } from '../../src/manifest/spec.js';
import { migratedFeatures } from '../../src/host/records.js';
import { BMP_SPEC, fakeSwitch, nativeSwitch, NODE, type FakeSwitch } from '../fakes/switch.js';

const MIGRATE = ['feature-entry', 'hold', 'apply', 'stop-native', 'stub', 'release', 'running', 'unit'];
const ROLLBACK = ['retire', 'delete-daemonset', 'pods-gone', 'unstub', 'agent', 'untaint', 'feature-state', 'native', 'forget'];
const ROLLBACK_SIDECAR = [
  'retire',
  'delete-daemonset',
  'pods-gone',
  'unstub',
  'delete-objects',
  'untaint',
  'feature-state',
  'native',
  'forget',
];
const ROLLBACK_NODE_ONLY = ['retire', 'hold', 'pods-gone', 'unstub', 'feature-state', 'native', 'forget'];

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
    expect(sw.cluster.calls.filter((c) => /^(apply|delete|deletePod|replaceNodeTaints)/.test(c))).toEqual([]);
    expect(sw.systemctl.calls.filter((c) => !c.startsWith('is-active'))).toEqual(['start bmp.service']);
    expect(facts(sw)).toMatchObject({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: false });
  });

  it('from a native switch: the pod runs, the native container does not, the unit is the proxy, never both running', async () => {
    const sw = await migrated();
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true });
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
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true });
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

describe('rollback, step by step', () => {
  it.each([
    ['whole DaemonSet', false, ROLLBACK],
    ['this node only', true, ROLLBACK_NODE_ONLY],
  ] as const)('%s: the steps in order', async (_label, nodeOnly, names) => {
    expect(rollbackSteps(fakeSwitch().ctx, { nodeOnly }).map((s) => s.name)).toEqual(names);
  });

  it.each([
    ...ROLLBACK.map((name, i) => [name, i, false] as const),
    ...ROLLBACK_NODE_ONLY.map((name, i) => [`${name} (--node-only)`, i, true] as const),
  ])('%s: not done after the steps before it; done after its apply', async (name, i, nodeOnly) => {
    const sw = await migrated();
    // untaint has something to do only where the feature was disabled by the taint at rollback time.
    if (name === 'untaint')
      await sw.cluster.replaceNodeTaints(await sw.cluster.readNode(NODE), [{ key: 'bmp', value: 'disabled', effect: 'NoSchedule' }]);
    const steps: Step[] = rollbackSteps(sw.ctx, { nodeOnly });
    for (const s of steps.slice(0, i)) await s.apply();
    expect(await steps[i]!.done()).toBe(false);
    await steps[i]!.apply();
    expect(await steps[i]!.done()).toBe(true);
    expect(sw.violations).toEqual([]);
  });

  it('gives the feature back: native running, no pod, no DaemonSet, FEATURE handed back', async () => {
    const sw = await migrated();
    await sw.db.set('config', 'bmp', { state: 'disabled' }); // what the sidecar mirrored while Kubernetes ran it
    await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: false });
    expect(sw.db.get('state', 'bmp')).toEqual({ state: 'enabled', up_status: 'true' });
    expect(sw.db.get('config', 'bmp')).toMatchObject({ state: 'enabled', custom: 'keep' });
    expect(sw.violations).toEqual([]);
    expect((await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet)).map((r) => r.outcome)).toEqual(
      ROLLBACK.map(() => 'already done'),
    );
  });

  it('a unit featured masked (the feature disabled): handed back masked and not started; no native container', async () => {
    const sw = await migrated();
    // featured's disable: stop, disable, mask.
    sw.systemctl.run(['stop', 'bmp.service']);
    sw.systemctl.run(['mask', 'bmp.service']);
    await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet);
    expect(facts(sw)).toMatchObject({ native: false, pod: 0, unit: false, stub: false, daemonSet: false });
    expect(sw.systemctl.masked.has('bmp.service')).toBe(true);
    // featured's enable later: unmask, enable, start: the image's unit runs the native container.
    sw.systemctl.run(['unmask', 'bmp.service']);
    sw.systemctl.run(['start', 'bmp.service']);
    expect(facts(sw)).toMatchObject({ native: true, unit: true });
    expect(sw.violations).toEqual([]);
  });

  it('--node-only keeps the DaemonSet and holds this node with the taint', async () => {
    const sw = await migrated();
    await runSteps(rollbackSteps(sw.ctx, { nodeOnly: true }), quiet);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: true, daemonSet: true });
    expect(sw.violations).toEqual([]);
  });

  it.each(ROLLBACK)('a crash right after %s, then a rerun: the same end state', async (crashAfter) => {
    const sw = await migrated();
    await runCrashingAfter(rollbackSteps(sw.ctx, { nodeOnly: false }), crashAfter);
    await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: false });
    expect(sw.violations).toEqual([]);
  });
});

describe('the node agent across features', () => {
  const TELEMETRY = BMP_SPEC.replace('feature: bmp', 'feature: telemetry').replace('mainProcess: openbmpd', 'mainProcess: telemetry');
  const served = async (sw: FakeSwitch) =>
    agentFeatures(
      await sw.cluster.get({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'kubesonic-agent', namespace: 'sonic' } }),
    );

  it('migrate adds its feature to the agent; rollback takes it out, and the last one removes the agent', async () => {
    const sw = nativeSwitch();
    const telemetry = { ...sw.ctx, spec: parseFeatureSpec(TELEMETRY, 'telemetry') };
    await runSteps(migrateSteps(sw.ctx), quiet);
    expect(await served(sw)).toEqual(['bmp']);
    await runSteps(migrateSteps(telemetry), quiet);
    expect(await served(sw)).toEqual(['bmp', 'telemetry']);
    expect(migratedFeatures(sw.root).sort()).toEqual(['bmp', 'telemetry']);
    await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet);
    expect(await served(sw)).toEqual(['telemetry']);
    expect(migratedFeatures(sw.root)).toEqual(['telemetry']);
    await runSteps(rollbackSteps(telemetry, { nodeOnly: false }), quiet);
    expect(await served(sw)).toEqual([]);
    expect([...sw.cluster.objects.keys()].filter((k) => k.includes('kubesonic-agent'))).toEqual([]);
    expect(sw.violations).toEqual([]);
  });

  it('--node-only rollback keeps the agent serving the feature for other nodes, and retires the record here first', async () => {
    const sw = await migrated();
    const steps = rollbackSteps(sw.ctx, { nodeOnly: true });
    await steps[0]!.apply();
    // From here on this node's agent writes nothing for bmp: the taint that follows is not a "disable".
    expect(migratedFeatures(sw.root)).toEqual([]);
    await runSteps(steps, quiet);
    expect(await served(sw)).toEqual(['bmp']);
  });
});

describe("the seed's per-feature sidecar shape", () => {
  const SIDECAR = `${BMP_SPEC}sync: sidecar\n`;

  it('migrate applies the feature with its sidecar and RBAC, no agent; rollback removes them all', async () => {
    const sw = nativeSwitch(SIDECAR);
    await runSteps(migrateSteps(sw.ctx), quiet);
    expect([...sw.cluster.objects.keys()].sort()).toEqual([
      'ClusterRole//kubesonic:sonic:bmp-kubesonic',
      'ClusterRoleBinding//kubesonic:sonic:bmp-kubesonic',
      'DaemonSet/sonic/bmp',
      'Role/sonic/bmp-kubesonic',
      'RoleBinding/sonic/bmp-kubesonic',
      'ServiceAccount/sonic/bmp-kubesonic',
    ]);
    expect(facts(sw)).toEqual({ native: false, pod: 1, unit: true, stub: true, tainted: false, daemonSet: true });
    const reports = await runSteps(rollbackSteps(sw.ctx, { nodeOnly: false }), quiet);
    expect(reports.map((r) => r.name)).toEqual(ROLLBACK_SIDECAR);
    expect([...sw.cluster.objects.keys()]).toEqual([]);
    expect(facts(sw)).toEqual({ native: true, pod: 0, unit: true, stub: false, tainted: false, daemonSet: false });
    expect(sw.violations).toEqual([]);
  });
});

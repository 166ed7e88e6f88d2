// The FEATURE sync (src/feature/agent.ts, writer.ts) on an in-memory cluster and FEATURE table, in
// the per-feature sidecar's shape (one feature's pods): what it writes for each change, that it
// writes nothing from a view it could not see, that it retries Redis with backoff, and that a
// concurrent operator write stands. test/unit/node-agent.test.ts covers the per-node shape.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeAgent } from '../../src/feature/agent.js';
import { disableTaint, setTaint, stopTaint } from '../../src/kube/cluster.js';
import { setHold } from '../../src/host/hold.js';
import { start, stop } from '../../src/pod/verbs.js';
import { HOLD_DIR } from '../../src/sonic/paths.js';
import { sleep, waitUntil } from '../../src/util/wait.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeFeatureDb } from '../fakes/feature-db.js';
import { FakeRuntime } from '../fakes/runtime.js';

const NODE = 'leaf1';
const target = { feature: 'bmp', namespace: 'sonic', node: NODE };
const syncs: NodeAgent[] = [];
afterEach(async () => {
  for (const s of syncs.splice(0)) await s.stop();
});

function world(opts: { pod?: boolean; config?: string; hostRoot?: string; unitStateDir?: string } = {}) {
  const cluster = new FakeCluster();
  cluster.addNode(NODE);
  const db = new FakeFeatureDb();
  db.seed('config', 'bmp', { state: opts.config ?? 'enabled', auto_restart: 'enabled' });
  const pod = opts.pod === false ? undefined : cluster.addPod('bmp', NODE, { running: true });
  const sync = new NodeAgent(
    { cluster, db },
    {
      ...target,
      only: 'bmp',
      labelSelector: 'app=bmp',
      defaultVersion: undefined,
      hostRoot: opts.hostRoot ?? '',
      unitStateDir: opts.unitStateDir ?? '',
      hostIntervalMs: 60_000,
      holdPollMs: 10,
      readyFile: join(mkdtempSync(join(tmpdir(), 'kubesonic-ready-')), 'ready'),
      log: () => undefined,
      maxBackoffMs: 20,
    },
  );
  syncs.push(sync);
  return { cluster, db, pod, sync };
}

const stateOf = (db: FakeFeatureDb) => db.get('state', 'bmp');
const eventually = <T>(what: string, probe: () => T | undefined) => waitUntil(what, 2000, async () => probe(), 5);

describe('FEATURE sync', () => {
  it('a running pod: STATE_DB enabled with the 12-character container id, owner kube; CONFIG_DB untouched', async () => {
    const { db, pod, sync } = world();
    await sync.start();
    const id = pod!.status!.containerStatuses![0]!.containerID!.replace('containerd://', '').slice(0, 12);
    await eventually('state written', () => (stateOf(db).container_id === id ? true : undefined));
    expect(stateOf(db)).toMatchObject({ state: 'enabled', container_id: id, current_owner: 'local', remote_state: 'none' });
    expect(stateOf(db).update_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(db.writes.filter((w) => w.db === 'config')).toEqual([]);
  });

  it("an operator's disable taint: once the pod is gone, disabled in both databases, nothing else in CONFIG_DB; untaint: enabled", async () => {
    const { cluster, db, sync } = world();
    await sync.start();
    await eventually('running', () => (stateOf(db).current_owner === 'local' ? true : undefined));
    await setTaint(cluster, NODE, disableTaint('bmp'), true);
    for (const p of cluster.podsOf('bmp', NODE)) await cluster.deletePod('sonic', p.metadata!.name!);
    await eventually('disabled', () => (db.get('config', 'bmp').state === 'disabled' ? true : undefined));
    expect(stateOf(db)).toMatchObject({ state: 'disabled', container_id: '', current_owner: 'none', remote_state: 'stopped' });
    expect(db.writes.filter((w) => w.db === 'config')).toEqual([
      { db: 'config', feature: 'bmp', op: 'setConfigState', fields: { state: 'disabled' } },
    ]);
    expect(db.get('config', 'bmp').auto_restart).toBe('enabled');
    await setTaint(cluster, NODE, disableTaint('bmp'), false);
    await eventually('enabled again', () => (db.get('config', 'bmp').state === 'enabled' ? true : undefined));
    expect(db.writes.filter((w) => w.db === 'config').map((w) => (w.fields as Record<string, string>).state)).toEqual([
      'disabled',
      'enabled',
    ]);
  });

  it("the unit's own stop (restart, config reload, a hand systemctl stop): no CONFIG_DB write at all", async () => {
    const hostRoot = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    const { cluster, db, sync } = world({ hostRoot });
    const ports = { cluster, runtime: new FakeRuntime(cluster, NODE) };
    const o = { timeoutMs: 500, out: () => undefined, pollMs: 5, holdDir: join(hostRoot, HOLD_DIR) };
    await sync.start();
    await eventually('running', () => (stateOf(db).current_owner === 'local' ? true : undefined));
    await stop(ports, target, o, false);
    // The pod stays (its container waits in the hold): STATE_DB says stopped all the same.
    expect(cluster.podsOf('bmp', NODE)).toHaveLength(1);
    await eventually('stopped', () => (stateOf(db).remote_state === 'stopped' ? true : undefined));
    expect(stateOf(db)).toMatchObject({ state: 'enabled', container_id: '', current_owner: 'none' });
    // systemctl start: the hold taken off; no pod event follows, the agent sees it all the same.
    await start(ports, target, o);
    await eventually('running again', () => (stateOf(db).current_owner === 'local' ? true : undefined));
    expect(db.writes.filter((w) => w.db === 'config')).toEqual([]);
  });

  it('a stop taint lagging behind a released hold (API server back, pod status stale): pending, never a disable of the unit', async () => {
    const hostRoot = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    const unitStateDir = mkdtempSync(join(tmpdir(), 'kubesonic-units-'));
    const { cluster, db, pod, sync } = world({ hostRoot, unitStateDir });
    // Released offline: no hold file, but the taint is still on and the status says not ready.
    await setTaint(cluster, NODE, stopTaint('bmp'), true);
    pod!.status!.containerStatuses![0]!.ready = false;
    await sync.start();
    await eventually('pending', () => (stateOf(db).remote_state === 'pending' ? true : undefined));
    expect(readFileSync(join(unitStateDir, 'bmp'), 'utf8')).toMatch(/^pending /);
    // With the hold file on, the same view is the unit's stop.
    setHold(join(hostRoot, HOLD_DIR), 'bmp', true);
    await eventually('disabled', () => (readFileSync(join(unitStateDir, 'bmp'), 'utf8').startsWith('disabled ') ? true : undefined));
    expect(stateOf(db).remote_state).toBe('stopped');
  });

  it('an agent started on a node without the taint writes no "enabled" over an operator\'s CONFIG_DB "disabled"', async () => {
    const { db, sync } = world({ config: 'disabled' });
    await sync.start();
    await eventually('running', () => (stateOf(db).current_owner === 'local' ? true : undefined));
    await sleep(30);
    expect(db.get('config', 'bmp').state).toBe('disabled');
  });

  it.each(['always_enabled', "{% if 'x' %}enabled{% endif %}"])('never replaces CONFIG_DB state %j', async (state) => {
    const { cluster, db, sync } = world({ pod: false, config: state });
    await setTaint(cluster, NODE, disableTaint('bmp'), true);
    await sync.start();
    await eventually('STATE_DB disabled', () => (stateOf(db).state === 'disabled' ? true : undefined));
    expect(db.get('config', 'bmp').state).toBe(state);
  });

  it('the API server away from the start: writes nothing at all (never "disabled" from missing information)', async () => {
    const { cluster, db, sync } = world({ pod: false });
    cluster.down = true;
    void sync.start();
    await sleep(100);
    expect(db.writes).toEqual([]);
    expect(sync.stats.fresh).toBe(false);
  });

  it('a broken watch: keeps the last state, writes nothing while stale, catches up after the re-list', async () => {
    const { cluster, db, sync } = world();
    await sync.start();
    await eventually('running', () => (stateOf(db).current_owner === 'local' ? true : undefined));
    const writes = db.writes.length;
    cluster.down = true;
    cluster.breakWatches();
    // Meanwhile the pod goes away and the node is tainted, unseen.
    cluster.pods.clear();
    const node = cluster.nodes.get(NODE)!;
    node.spec = { taints: [disableTaint('bmp')] };
    await sleep(60);
    expect(db.writes.length).toBe(writes);
    expect(stateOf(db).current_owner).toBe('local');
    cluster.down = false;
    await eventually('caught up', () => (stateOf(db).state === 'disabled' ? true : undefined));
  });

  it('Redis away: retries with backoff and writes the newest state once it is back', async () => {
    const { cluster, db, sync } = world();
    db.down = true;
    await sync.start();
    await sleep(60);
    expect(db.writes).toEqual([]);
    await setTaint(cluster, NODE, disableTaint('bmp'), true);
    for (const p of cluster.podsOf('bmp', NODE)) await cluster.deletePod('sonic', p.metadata!.name!);
    db.down = false;
    await eventually('newest state', () => (stateOf(db).state === 'disabled' ? true : undefined));
    // The running state it could not write is skipped: only the newest reaches Redis.
    expect(db.writes.filter((w) => w.db === 'state').map((w) => (w.fields as Record<string, string>).current_owner)).toEqual(['none']);
  });

  it('an operator write to CONFIG_DB between our read and our write stands', async () => {
    const { cluster, db, sync } = world();
    db.interleave = () => db.seed('config', 'bmp', { state: 'enabled', auto_restart: 'disabled' });
    await setTaint(cluster, NODE, disableTaint('bmp'), true);
    for (const p of cluster.podsOf('bmp', NODE)) await cluster.deletePod('sonic', p.metadata!.name!);
    await sync.start();
    await eventually('STATE_DB disabled', () => (stateOf(db).state === 'disabled' ? true : undefined));
    await sleep(20);
    expect(db.get('config', 'bmp')).toEqual({ state: 'enabled', auto_restart: 'disabled' });
  });

  it('counts API requests: one list and one watch per resource, not one per change', async () => {
    const { cluster, sync } = world();
    await sync.start();
    for (let i = 0; i < 5; i++) {
      await setTaint(cluster, NODE, disableTaint('bmp'), i % 2 === 0);
    }
    expect(sync.stats.apiRequests).toBe(4);
  });
});

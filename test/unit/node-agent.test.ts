// The per-node agent (src/feature/agent.ts) on an in-memory cluster and FEATURE table: one view
// serves every feature migrated on the node, whatever their number; only migrated features are
// written; the unit state files follow the pods; the host side follows each pod's version; a
// Redis that came back empty is complete again within the resync period.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeAgent } from '../../src/feature/agent.js';
import { setNativeMark } from '../../src/host/hold.js';
import { writeRecord } from '../../src/host/records.js';
import { HOLD_DIR } from '../../src/sonic/paths.js';
import { disableTaint, setTaint } from '../../src/kube/cluster.js';
import { dropInPath, stubDropIn } from '../../src/systemd/unit.js';
import { sleep, waitUntil } from '../../src/util/wait.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeFeatureDb } from '../fakes/feature-db.js';

const NODE = 'leaf1';
const FEATURES = ['bmp', 'telemetry', 'gnmi', 'snmp', 'radv'];
const agents: NodeAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

function world(opts: { features: string[]; migrated?: string[]; version?: string; resyncMs?: number }) {
  const cluster = new FakeCluster();
  cluster.addNode(NODE);
  const db = new FakeFeatureDb();
  const hostRoot = mkdtempSync(join(tmpdir(), 'kubesonic-agent-'));
  const unitStateDir = join(hostRoot, 'run', 'units');
  for (const f of opts.features) {
    db.seed('config', f, { state: 'enabled' });
    cluster.addPod(f, NODE, { running: true, version: opts.version ?? 'v1' });
    mkdirSync(dirname(join(hostRoot, dropInPath(f))), { recursive: true }); // the agent's mounts
  }
  for (const f of opts.migrated ?? opts.features)
    writeRecord(hostRoot, { feature: f, migratedAt: '2026-11-29T10:00:00Z', configStateBefore: 'enabled' });
  const log: string[] = [];
  const agent = new NodeAgent(
    { cluster, db },
    {
      namespace: 'sonic',
      node: NODE,
      only: undefined,
      labelSelector: 'kubesonic.sonic-net.github.io/role=feature',
      defaultVersion: undefined,
      hostRoot,
      unitStateDir,
      hostIntervalMs: 60_000,
      holdPollMs: 10,
      readyFile: join(hostRoot, 'ready'),
      log: (l) => log.push(l),
      maxBackoffMs: 20,
      resyncMs: opts.resyncMs,
    },
  );
  agents.push(agent);
  return { cluster, db, hostRoot, unitStateDir, agent, log };
}

const eventually = <T>(what: string, probe: () => T | undefined) => waitUntil(what, 2000, async () => probe(), 5);
const unitState = (dir: string, f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split(' ')[0] : undefined);

describe('the node agent', () => {
  it.each([1, 5])('serves %i features with one pod list+watch and one node read+watch (4 API requests)', async (n) => {
    const { db, agent } = world({ features: FEATURES.slice(0, n) });
    await agent.start();
    for (const f of FEATURES.slice(0, n))
      await eventually(`${f} written`, () => (db.get('state', f).current_owner === 'local' ? true : undefined));
    expect(agent.stats.apiRequests).toBe(4);
    expect(agent.stats.features.sort()).toEqual(FEATURES.slice(0, n).sort());
  });

  it('writes nothing for a feature not migrated on this node (its pod waits in its wrapper next to the native one)', async () => {
    const { db, agent } = world({ features: ['bmp', 'telemetry'], migrated: ['bmp'] });
    await agent.start();
    await eventually('bmp written', () => (db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    await sleep(30);
    expect(db.writes.filter((w) => w.feature === 'telemetry')).toEqual([]);
  });

  it('keeps the unit state files: running, then disabled once the feature is stopped by the taint', async () => {
    const { cluster, unitStateDir, agent } = world({ features: ['bmp', 'telemetry'] });
    await agent.start();
    await eventually('running', () => (unitState(unitStateDir, 'bmp') === 'running' ? true : undefined));
    expect(unitState(unitStateDir, 'telemetry')).toBe('running');
    await setTaint(cluster, NODE, disableTaint('bmp'), true);
    for (const p of cluster.podsOf('bmp', NODE)) await cluster.deletePod('sonic', p.metadata!.name!);
    await eventually('disabled', () => (unitState(unitStateDir, 'bmp') === 'disabled' ? true : undefined));
    expect(unitState(unitStateDir, 'telemetry')).toBe('running');
  });

  it('the native marker on: a pod whose container runs (its wrapper waiting) is pending, never running; marker off: running, no pod event needed', async () => {
    const { db, hostRoot, unitStateDir, agent } = world({ features: ['bmp', 'telemetry'] });
    setNativeMark(join(hostRoot, HOLD_DIR), 'bmp', true);
    await agent.start();
    await eventually('bmp pending', () => (unitState(unitStateDir, 'bmp') === 'pending' ? true : undefined));
    expect(db.get('state', 'bmp')).toMatchObject({ current_owner: 'none', remote_state: 'pending', container_id: '' });
    // Another feature's marker is not telemetry's.
    expect(unitState(unitStateDir, 'telemetry')).toBe('running');
    await sleep(50);
    expect(unitState(unitStateDir, 'bmp')).toBe('pending');
    // The unit's shell took it off (Docker showed no native bmp): the agent sees it on its own.
    setNativeMark(join(hostRoot, HOLD_DIR), 'bmp', false);
    await eventually('bmp running', () => (unitState(unitStateDir, 'bmp') === 'running' ? true : undefined));
    expect(db.get('state', 'bmp')).toMatchObject({ current_owner: 'local', remote_state: 'none' });
    // The STATE_DB writes never said running while the marker was on.
    const owners = db.writes
      .filter((w) => w.feature === 'bmp' && w.db === 'state')
      .map((w) => (w.fields as Record<string, string>).current_owner);
    expect(owners.indexOf('local')).toBeGreaterThan(owners.indexOf('none'));
  });

  it('installs the stub drop-in of each feature per its pod version; v0 gives the unit back', async () => {
    const { cluster, hostRoot, agent } = world({ features: ['bmp', 'telemetry'] });
    await agent.start();
    await eventually('drop-ins', () => (existsSync(join(hostRoot, dropInPath('telemetry'))) ? true : undefined));
    expect(readFileSync(join(hostRoot, dropInPath('bmp')), 'utf8')).toBe(stubDropIn('bmp'));
    // A rollout to v0 replaces bmp's pod with one that says so.
    for (const p of cluster.podsOf('bmp', NODE)) await cluster.deletePod('sonic', p.metadata!.name!);
    cluster.addPod('bmp', NODE, { running: true, version: 'v0' });
    await eventually('bmp back to the image unit', () => (existsSync(join(hostRoot, dropInPath('bmp'))) ? undefined : true));
    expect(existsSync(join(hostRoot, dropInPath('telemetry')))).toBe(true);
  });

  it('a Redis that came back empty is complete again within the resync period, CONFIG_DB untouched', async () => {
    const { db, agent } = world({ features: ['bmp'], resyncMs: 50 });
    await agent.start();
    await eventually('written', () => (db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    const before = db.get('state', 'bmp');
    db.tables.state.clear(); // redis-server restarted without persistence
    db.seed('config', 'bmp', { state: 'disabled' }); // an operator's write meanwhile stands
    await eventually('restored', () => (db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    expect(db.get('state', 'bmp')).toMatchObject({ state: before.state, container_id: before.container_id, remote_state: 'none' });
    expect(db.get('config', 'bmp').state).toBe('disabled');
  });

  it('stops writing a feature the moment its record is retired (rollback), even on the resync', async () => {
    const { db, hostRoot, agent } = world({ features: ['bmp'], resyncMs: 20 });
    await agent.start();
    await eventually('written', () => (db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    const { retireRecord } = await import('../../src/host/records.js');
    retireRecord(hostRoot, 'bmp');
    const writes = db.writes.length;
    db.tables.state.clear();
    await sleep(100);
    expect(db.writes.length).toBe(writes);
  });
});

describe('the operator-enable edge across restarts of the writer', () => {
  it("a new writer that finds the operator's disable noted in the unit state file mirrors the untaint as enabled", async () => {
    const first = world({ features: ['bmp'] });
    await first.agent.start();
    await setTaint(first.cluster, NODE, disableTaint('bmp'), true);
    for (const p of first.cluster.podsOf('bmp', NODE)) await first.cluster.deletePod('sonic', p.metadata!.name!);
    await eventually('disabled', () => (first.db.get('config', 'bmp').state === 'disabled' ? true : undefined));
    expect(readFileSync(join(first.unitStateDir, 'bmp'), 'utf8')).toMatch(/^disabled \d+ operator\n$/);
    await first.agent.stop();
    // The operator takes the taint off while no writer runs (a sidecar dies with its pod).
    await setTaint(first.cluster, NODE, disableTaint('bmp'), false);
    first.cluster.addPod('bmp', NODE, { running: true, version: 'v1' });
    const second = new NodeAgent(
      { cluster: first.cluster, db: first.db },
      {
        namespace: 'sonic',
        node: NODE,
        only: undefined,
        labelSelector: 'kubesonic.sonic-net.github.io/role=feature',
        defaultVersion: undefined,
        hostRoot: first.hostRoot,
        unitStateDir: first.unitStateDir,
        hostIntervalMs: 60_000,
        readyFile: join(first.hostRoot, 'ready2'),
        log: () => undefined,
      },
    );
    agents.push(second);
    await second.start();
    await eventually('enabled', () => (first.db.get('config', 'bmp').state === 'enabled' ? true : undefined));
  });
});

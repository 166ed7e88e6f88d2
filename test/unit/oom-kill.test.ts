// OOM kills of a feature container surface on the switch (src/feature/view.ts oomKillOf, state.ts
// oomKillChanges, agent.ts): each kill once in STATE_DB (oom_kill_count, last_oom_kill_id,
// last_oom_kill_time) and once in syslog, whatever else changes in the pod's status, and not again
// after the agent restarts. On the real kubelet: test/system/signals.test.ts.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeAgent } from '../../src/feature/agent.js';
import { oomKillChanges } from '../../src/feature/state.js';
import { oomKillOf } from '../../src/feature/view.js';
import { writeRecord } from '../../src/host/records.js';
import { dropInPath } from '../../src/systemd/unit.js';
import { sleep, waitUntil } from '../../src/util/wait.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeFeatureDb } from '../fakes/feature-db.js';
import { FakeSyslog } from '../fakes/syslog.js';

const NODE = 'leaf1';
const agents: NodeAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

function startAgent(cluster: FakeCluster, db: FakeFeatureDb, hostRoot: string, syslog: FakeSyslog, log: string[]): NodeAgent {
  const agent = new NodeAgent(
    { cluster, db, syslog },
    {
      namespace: 'sonic',
      node: NODE,
      only: undefined,
      labelSelector: 'kubesonic.sonic-net.github.io/role=feature',
      defaultVersion: undefined,
      hostRoot,
      unitStateDir: '',
      hostIntervalMs: 60_000,
      readyFile: join(hostRoot, 'ready'),
      log: (l) => log.push(l),
      maxBackoffMs: 20,
    },
  );
  agents.push(agent);
  return agent;
}

function world() {
  const cluster = new FakeCluster();
  cluster.addNode(NODE);
  const db = new FakeFeatureDb();
  const hostRoot = mkdtempSync(join(tmpdir(), 'kubesonic-oom-'));
  db.seed('config', 'bmp', { state: 'enabled' });
  const pod = cluster.addPod('bmp', NODE, { running: true, version: 'v1' });
  pod.spec!.containers[0]!.resources = { limits: { memory: '64Mi' } };
  mkdirSync(dirname(join(hostRoot, dropInPath('bmp'))), { recursive: true });
  writeRecord(hostRoot, { feature: 'bmp', migratedAt: '2026-11-29T10:00:00Z', configStateBefore: 'enabled' });
  return { cluster, db, hostRoot, pod, syslog: new FakeSyslog(), log: [] as string[] };
}

const eventually = <T>(what: string, probe: () => T | undefined) => waitUntil(what, 2000, async () => probe(), 5);
const shortId = (cid: string | undefined) => cid?.replace(/^containerd:\/\//, '').slice(0, 12);

describe('OOM kills of a feature container', () => {
  it('reads a kill from the pod status: the killed container id names it', () => {
    const cluster = new FakeCluster();
    const pod = cluster.addPod('bmp', NODE, { running: true });
    expect(oomKillOf('bmp', pod)).toBeUndefined();
    const killed = shortId(pod.status!.containerStatuses![0]!.containerID);
    cluster.oomKill(pod, new Date('2026-11-29T10:00:00Z'));
    expect(oomKillOf('bmp', pod)).toMatchObject({ id: killed, restartCount: 1, finishedAt: new Date('2026-11-29T10:00:00Z') });
    // Any other termination reason is no OOM kill.
    pod.status!.containerStatuses![0]!.lastState!.terminated!.reason = 'Error';
    expect(oomKillOf('bmp', pod)).toBeUndefined();
  });

  it('counts a kill once: the same id again changes nothing, a new one adds one', () => {
    const kill = { id: 'aaaaaaaaaaaa', finishedAt: new Date(2026, 10, 29, 10, 0, 0), restartCount: 1, pod: 'p', limit: undefined };
    expect(oomKillChanges({}, kill, new Date())).toEqual({
      oom_kill_count: '1',
      last_oom_kill_id: 'aaaaaaaaaaaa',
      last_oom_kill_time: '2026-11-29 10:00:00',
    });
    expect(oomKillChanges({ oom_kill_count: '1', last_oom_kill_id: 'aaaaaaaaaaaa' }, kill, new Date())).toBeUndefined();
    expect(
      oomKillChanges({ oom_kill_count: '4', last_oom_kill_id: 'aaaaaaaaaaaa' }, { ...kill, id: 'bbbbbbbbbbbb' }, new Date()),
    ).toMatchObject({ oom_kill_count: '5' });
    expect(oomKillChanges({ oom_kill_count: 'garbage' }, kill, new Date())).toMatchObject({ oom_kill_count: '1' });
  });

  it('STATE_DB and one syslog line per kill; status updates in between count nothing; a restarted agent counts nothing again', async () => {
    const w = world();
    const first = startAgent(w.cluster, w.db, w.hostRoot, w.syslog, w.log);
    await first.start();
    await eventually('running written', () => (w.db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    expect(w.db.get('state', 'bmp').oom_kill_count).toBeUndefined();

    const killed = shortId(w.pod.status!.containerStatuses![0]!.containerID)!;
    w.cluster.oomKill(w.pod, new Date(2026, 10, 29, 10, 0, 0));
    await eventually('kill counted', () => (w.db.get('state', 'bmp').oom_kill_count === '1' ? true : undefined));
    expect(w.db.get('state', 'bmp')).toMatchObject({ last_oom_kill_id: killed, last_oom_kill_time: '2026-11-29 10:00:00' });
    await eventually('syslog line', () => (w.syslog.lines.length ? true : undefined));
    expect(w.syslog.lines).toEqual([
      {
        severity: 'err',
        message: `Container 'bmp' was OOM-killed (pod ${w.pod.metadata!.name}, container ${killed}, memory limit 64Mi); 1 OOM kill(s) of bmp on this node`,
      },
    ]);

    w.cluster.touch(w.pod);
    w.cluster.touch(w.pod);
    await sleep(30);
    await first.stop();
    agents.splice(0);
    const second = startAgent(w.cluster, w.db, w.hostRoot, w.syslog, w.log);
    await second.start();
    await sleep(50);
    expect(w.db.get('state', 'bmp').oom_kill_count).toBe('1');
    expect(w.syslog.lines).toHaveLength(1);

    const killed2 = shortId(w.pod.status!.containerStatuses![0]!.containerID)!;
    w.cluster.oomKill(w.pod);
    await eventually('second kill counted', () => (w.db.get('state', 'bmp').oom_kill_count === '2' ? true : undefined));
    await eventually('second line', () => (w.syslog.lines.length === 2 ? true : undefined));
    expect(w.db.get('state', 'bmp').last_oom_kill_id).toBe(killed2);
    expect(w.syslog.lines[1]!.message).toBe(
      `Container 'bmp' was OOM-killed (pod ${w.pod.metadata!.name}, container ${killed2}, memory limit 64Mi); 2 OOM kill(s) of bmp on this node`,
    );
  });

  it('a syslog that cannot be reached: the kill is still counted, the failure is in the agent log', async () => {
    const w = world();
    w.syslog.broken = true;
    const agent = startAgent(w.cluster, w.db, w.hostRoot, w.syslog, w.log);
    await agent.start();
    await eventually('running written', () => (w.db.get('state', 'bmp').current_owner === 'local' ? true : undefined));
    w.cluster.oomKill(w.pod);
    await eventually('kill counted', () => (w.db.get('state', 'bmp').oom_kill_count === '1' ? true : undefined));
    await eventually('failure logged', () => w.log.find((l) => l.startsWith('[oom bmp] syslog: logger: spawn logger ENOENT')));
    expect(w.log.filter((l) => l.startsWith("[oom bmp] Container 'bmp' was OOM-killed"))).toHaveLength(1);
  });
});

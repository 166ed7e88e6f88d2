// The unit stub's verbs (src/pod/verbs.ts, src/pod/unit-verb.ts) on an in-memory cluster: what each
// does to the taint and the pods, what it prints, and its exit code. test/system/e2e-bmp.test.ts
// runs them through a real systemd against a real kubelet.
import { describe, expect, it } from 'vitest';
import { restart, start, status, stop, waitWhileRunning, STATUS } from '../../src/pod/verbs.js';
import { runUnitVerb } from '../../src/pod/unit-verb.js';
import { stubDropIn } from '../../src/systemd/unit.js';
import { sleep } from '../../src/util/wait.js';
import { FakeCluster } from '../fakes/cluster.js';

const NODE = 'leaf1';
const t = { feature: 'bmp', namespace: 'sonic', node: NODE };
const TAINT = { key: 'bmp', value: 'disabled', effect: 'NoSchedule' };
const STOP = { key: 'kubesonic.sonic-net.github.io/stopped-bmp', value: 'unit', effect: 'NoSchedule' };
const DS = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'bmp', namespace: 'sonic' },
  spec: { selector: { matchLabels: { app: 'bmp' } } },
};

function cluster(opts: { tainted?: boolean; pod?: 'running' | 'pending' | 'none'; daemonSet?: boolean } = {}) {
  const c = new FakeCluster();
  c.addNode(NODE, opts.tainted ? [TAINT] : []);
  if (opts.daemonSet ?? true) c.objects.set('DaemonSet/sonic/bmp', DS);
  if ((opts.pod ?? 'running') !== 'none') c.addPod('bmp', NODE, { running: opts.pod !== 'pending' });
  c.controllers = true;
  return c;
}

const collect = () => {
  const lines: string[] = [];
  return { lines, o: { timeoutMs: 500, out: (l: string) => lines.push(l), pollMs: 5 } };
};

describe('systemctl start <f> (ExecStartPre)', () => {
  it("removes an operator's disable taint and returns once the pod runs", async () => {
    const c = cluster({ tainted: true, pod: 'none' });
    const { lines, o } = collect();
    expect(await start(c, t, o)).toBe(0);
    expect(c.tainted('bmp', NODE)).toBe(false);
    expect(lines[0]).toBe('bmp: removed taint bmp=disabled:NoSchedule from leaf1');
    expect(lines[1]).toMatch(/^bmp: bmp-[0-9a-f]{6} running [0-9a-f]{12} restarts=0$/);
  });

  it("releases kubesonic's own hold (the unit's earlier stop)", async () => {
    const c = cluster({ pod: 'none' });
    await c.replaceNodeTaints(await c.readNode(NODE), [STOP]);
    const { lines, o } = collect();
    expect(await start(c, t, o)).toBe(0);
    expect((await c.readNode(NODE)).spec?.taints).toEqual([]);
    expect(lines[0]).toBe('bmp: released the hold on leaf1');
  });

  it('times out (non-zero exit through the CLI) when no pod comes', async () => {
    const c = cluster({ pod: 'none', daemonSet: false });
    await expect(start(c, t, collect().o)).rejects.toThrow(/timed out after 1 s waiting for bmp pod running on leaf1/);
  });

  it('fails with the connection error when the API server is away', async () => {
    const c = cluster();
    c.down = true;
    await expect(start(c, t, collect().o)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('systemctl stop <f> (ExecStop)', () => {
  it("holds the node with kubesonic's stop taint (not the operator's disable), deletes the pod and waits until it is gone", async () => {
    const c = cluster();
    const { lines, o } = collect();
    expect(await stop(c, t, o, false)).toBe(0);
    expect((await c.readNode(NODE)).spec?.taints).toEqual([STOP]);
    expect(c.podsOf('bmp', NODE)).toEqual([]);
    expect(lines[0]).toBe('bmp: holding leaf1 (taint kubesonic.sonic-net.github.io/stopped-bmp)');
    expect(lines[1]).toMatch(/^bmp: deleted pod bmp-/);
  });

  it('while the system shuts down: touches nothing, so a reboot does not disable the feature', async () => {
    const c = cluster();
    const { lines, o } = collect();
    expect(await stop(c, t, o, true)).toBe(0);
    expect(c.calls).toEqual([]);
    expect(lines).toEqual(["bmp: system is shutting down, leaving the pod to the node's reboot"]);
  });

  it('keeps other taints of the node, retrying a lost race', async () => {
    const c = cluster();
    await c.replaceNodeTaints(await c.readNode(NODE), [{ key: 'maintenance', value: 'true', effect: 'NoExecute' }]);
    c.conflicts = 2;
    await stop(c, t, collect().o, false);
    expect((await c.readNode(NODE)).spec?.taints).toEqual([{ key: 'maintenance', value: 'true', effect: 'NoExecute' }, STOP]);
  });
});

describe('systemctl restart / kubesonic systemd <f> restart', () => {
  it('replaces the pod and waits for the new one', async () => {
    const c = cluster();
    const before = c.podsOf('bmp', NODE)[0]!.metadata!.name;
    const { lines, o } = collect();
    expect(await restart(c, t, o)).toBe(0);
    const after = c.runningPodsOf('bmp', NODE);
    expect(after).toHaveLength(1);
    expect(after[0]!.metadata!.name).not.toBe(before);
    expect(lines.at(-1)).toContain(after[0]!.metadata!.name);
  });

  it('a pod already gone is fine', async () => {
    const c = cluster({ pod: 'none' });
    expect(await restart(c, t, collect().o)).toBe(0);
  });
});

describe('kubesonic systemd <f> status', () => {
  it.each([
    ['running', { pod: 'running' as const }, STATUS.RUNNING, /^ {2}pod bmp-\S+ running [0-9a-f]{12} restarts=0$/],
    ['pod not running yet', { pod: 'pending' as const }, STATUS.NOT_RUNNING, /^ {2}pod bmp-\S+ waiting \(PodInitializing\) restarts=0$/],
    ['no pod', { pod: 'none' as const, daemonSet: false }, STATUS.NOT_RUNNING, /^ {2}no pod on this node$/],
  ])('%s: exit %i', async (_label, opts, code, line) => {
    const c = cluster(opts);
    c.controllers = false;
    const { lines, o } = collect();
    expect(await status(c, t, o.out)).toBe(code);
    expect(lines[0]).toBe('bmp: Kubernetes-managed (namespace sonic, node leaf1)');
    expect(lines[1]).toMatch(line);
  });

  it('says when the feature is disabled by the taint', async () => {
    const c = cluster({ tainted: true, pod: 'none', daemonSet: false });
    const { lines, o } = collect();
    expect(await status(c, t, o.out)).toBe(STATUS.NOT_RUNNING);
    expect(lines[0]).toBe('bmp: Kubernetes-managed (namespace sonic, node leaf1), disabled by taint bmp=disabled:NoSchedule');
  });

  it('API server away: unknown (4), one line', async () => {
    const c = cluster();
    c.down = true;
    const { lines, o } = collect();
    expect(await status(c, t, o.out)).toBe(STATUS.UNKNOWN);
    expect(lines).toEqual(['bmp: status unknown: connect ECONNREFUSED 10.77.0.2:6443']);
  });

  it('no credentials at all: unknown (4) through runUnitVerb; start fails instead', async () => {
    const noCreds = () => {
      throw new Error('no Kubernetes credentials: set --kubeconfig or KUBECONFIG');
    };
    const { lines, o } = collect();
    expect(await runUnitVerb('status', t, { cluster: noCreds, systemStopping: () => false }, o)).toBe(STATUS.UNKNOWN);
    expect(lines).toEqual(['bmp: status unknown: no Kubernetes credentials: set --kubeconfig or KUBECONFIG']);
    await expect(runUnitVerb('start', t, { cluster: noCreds, systemStopping: () => false }, o)).rejects.toThrow(
      'no Kubernetes credentials',
    );
  });

  it('unit: prints the drop-in, with its path', async () => {
    const { lines, o } = collect();
    expect(await runUnitVerb('unit', t, { cluster: () => cluster(), systemStopping: () => false }, o)).toBe(0);
    expect(lines[0]).toBe('# /etc/systemd/system/bmp.service.d/90-kubesonic.conf');
    expect(`${lines[1]}\n`).toBe(stubDropIn('bmp'));
  });
});

describe('ExecStart: wait while the pod runs', () => {
  it('returns 0 once the pod is gone and the node is tainted (a disable)', async () => {
    const c = cluster();
    const lines: string[] = [];
    const waiting = waitWhileRunning(c, t, (l) => lines.push(l));
    await sleep(20);
    await stop(c, t, collect().o, false);
    expect(await waiting).toBe(0);
    expect(lines).toEqual(['bmp: pod gone and bmp disabled on leaf1']);
  });

  it('returns 1 when the pod stays gone without a taint past the grace time', async () => {
    const c = cluster({ daemonSet: false });
    const waiting = waitWhileRunning(c, t, () => undefined, { goneGraceMs: 50 });
    await sleep(20);
    await c.deletePod('sonic', c.podsOf('bmp', NODE)[0]!.metadata!.name!);
    expect(await waiting).toBe(1);
  });

  it('a pod replaced within the grace time keeps it waiting', async () => {
    const c = cluster();
    let settled = false;
    const abort = new AbortController();
    const waiting = waitWhileRunning(c, t, () => undefined, { goneGraceMs: 100, signal: abort.signal }).then((code) => {
      settled = true;
      return code;
    });
    await sleep(20);
    await restart(c, t, collect().o);
    await sleep(200);
    expect(settled).toBe(false);
    abort.abort(); // systemctl stop's SIGTERM
    expect(await waiting).toBe(0);
  });

  it('decides nothing while the API server is away, however long', async () => {
    const c = cluster({ daemonSet: false });
    let settled = false;
    const abort = new AbortController();
    const waiting = waitWhileRunning(c, t, () => undefined, { goneGraceMs: 30, signal: abort.signal }).then((code) => {
      settled = true;
      return code;
    });
    await sleep(20);
    c.down = true;
    c.breakWatches();
    c.pods.clear(); // the pod is gone, but nobody can see it
    await sleep(150);
    expect(settled).toBe(false);
    abort.abort();
    expect(await waiting).toBe(0);
  });
});

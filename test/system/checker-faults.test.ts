// Faults on real parts: a black-holed API server (a real TCP listener that accepts and never
// answers) next to a native bmp in a real dockerd, and that dockerd paused (SIGSTOP by pid) while
// the unit's shell (its native marker: what keeps the pod's bmp waiting while a native one may run)
// and memory_checker ask it. Only a Docker whose socket is gone is "none"; a hung one keeps the
// marker on and makes memory_checker exit 1.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFeatureContainer, startDockerd, type Dockerd } from '../helpers/docker.js';
import { KUBESONIC, REPO, run, runChecker, testbedBin, waitFor } from '../helpers/procs.js';
import { clusterEnv, clusterSide, kube, kubeconfigFor } from '../helpers/cluster.js';
import { DEFAULT_TIMEOUT_MS } from '../../src/memory/args.js';
import { unitWaitScript } from '../../src/systemd/unit.js';

const MiB = 1024 * 1024;
let d: Dockerd;
let hole: Server;
const held: Socket[] = [];
let env: NodeJS.ProcessEnv;

/** What the kernel says, read independently of the checker: usage - total_inactive_file. */
function kernelWorkingSet(id: string): number {
  const dir = `/sys/fs/cgroup/memory/docker/${id}`;
  const usage = Number(readFileSync(`${dir}/memory.usage_in_bytes`, 'utf8'));
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(`${dir}/memory.stat`, 'utf8'))![1]);
  return usage - inactive;
}

/**
 * The migrated unit's ExecStart (unit-wait.sh, as the stub installs it) over the real dockerd, with
 * the native marker left on (a reboot during a fallback) and no unit state yet: its lines, its end,
 * the marker, and a way to write the unit state the agent would write.
 */
function unitShell() {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-unit-'));
  const hold = join(dir, 'hold');
  const mark = join(hold, 'bmp.native');
  mkdirSync(hold);
  writeFileSync(mark, 'native fallback of the unit 1764410000\n');
  const script = join(dir, 'unit-wait.sh');
  writeFileSync(script, unitWaitScript());
  const child = spawn('/bin/sh', [script, 'bmp', '60'], {
    env: {
      PATH: process.env.PATH,
      DOCKER_HOST: d.host,
      KUBESONIC_UNIT_STATE_DIR: dir,
      KUBESONIC_HOLD_DIR: hold,
      KUBESONIC_REDIS_SOCKET: join(dir, 'no-redis.sock'),
      KUBESONIC_FALLBACK_SECONDS: '0',
    },
  });
  shells.push(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (output += t));
  let exit: number | null | undefined;
  const ended = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      exit = code;
      r(code);
    }),
  );
  return {
    dir,
    lines: () => output.split('\n').filter(Boolean),
    ended,
    exited: () => exit !== undefined,
    marked: () => existsSync(mark),
    state: (s: string) => writeFileSync(join(dir, 'bmp'), `${s} 1764410000\n`),
  };
}
const shells: ChildProcess[] = [];
/** Processes still running whose command line names `dir` (the shell, its watcher, their docker CLIs). */
const processesOf = (dir: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });
const STAYS = /^bmp: the native marker \S+bmp\.native stays: a native bmp container runs, or Docker does not answer$/;

beforeAll(async () => {
  d = await startDockerd(testbedBin());
  // Accepts every connection (the kernel completes the handshake) and never sends a byte.
  hole = createServer((s) => {
    s.on('error', () => undefined); // the checker resets it when its share of the budget is up
    held.push(s);
  });
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-faults-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "https://127.0.0.1:${(hole.address() as { port: number }).port}"}}]\n` +
      'contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: t}}]\n',
  );
  chmodSync(kubeconfig, 0o600);
  // A native switch with kubesonic's credentials in place, the API server black-holed; no
  // Kubernetes container in containerd's state (the testbed's own lives elsewhere).
  env = { DOCKER_HOST: d.host, KUBECONFIG: kubeconfig, NODE_NAME: 'vm', KUBESONIC_CONTAINERD_STATE: join(dir, 'no-containerd') };
  runFeatureContainer(d, 'bmp', 'openbmpd', 96);
  await waitFor('bmp at 96 MiB', () => kernelWorkingSet(d.docker('inspect', '-f', '{{.Id}}', 'bmp').trim()) > 90 * MiB, 30_000);
});

afterAll(async () => {
  if (d?.daemon.alive()) process.kill(d.daemon.pid, 'SIGCONT'); // never leave dockerd stopped, whatever failed
  for (const c of shells) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  for (const s of held) s.destroy();
  await new Promise((r) => (hole ? hole.close(r) : r(undefined)));
  await d?.stop();
});

describe('memory_checker with a black-holed API server and a native bmp', () => {
  it('answers from Docker within the default budget: exit 3 with the message, exit 0 below', async () => {
    const id = d.docker('inspect', '-f', '{{.Id}}', 'bmp').trim();
    const accepted = held.length;
    const json = runChecker(['--json', 'bmp', '1'], env);
    const out = JSON.parse(json.stdout) as { via: string; usage: number; exitCode: number; notes: string[] };
    expect(out).toMatchObject({ via: 'docker', exitCode: 3 });
    expect(out.notes).toContain('kube: pod list: timed out');
    expect(Math.abs(out.usage - kernelWorkingSet(id))).toBeLessThan(4 * MiB);
    const over = runChecker(['bmp', String(64 * MiB)], env);
    process.stderr.write(`[checker-faults] black-holed API server: exit ${over.code} in ${over.ms} ms (budget ${DEFAULT_TIMEOUT_MS} ms)\n`);
    expect(over.code).toBe(3);
    expect(over.stdout).toMatch(/^\[bmp\]: Memory usage \(\d+ Bytes\) is larger than the threshold \(67108864 Bytes\)!\n$/);
    // The whole process — Node's start included — ends inside the budget plus a start-up's margin.
    expect(over.ms).toBeLessThan(DEFAULT_TIMEOUT_MS + 700);
    expect(runChecker(['bmp', String(512 * MiB)], env)).toMatchObject({ code: 0, stdout: '' });
    // The checks ran synchronously: the kernel completed their handshakes into the backlog; let
    // the listener take them now to see the API server was really asked, once per run.
    await waitFor('the black hole to accept three connections', () => held.length - accepted >= 3, 5000, 50);
  });
});

describe('dockerd paused (SIGSTOP): unknown, never "not running"', () => {
  it('a unit started while dockerd is stopped keeps the marker on, says so once, and still ends on a disable within seconds', async () => {
    process.kill(d.daemon.pid, 'SIGSTOP');
    let u: ReturnType<typeof unitShell>;
    try {
      u = unitShell();
      await new Promise((r) => setTimeout(r, 12_000)); // two 5 s questions and more
      expect(u.marked()).toBe(true);
      expect(u.exited()).toBe(false);
      expect(u.lines()).toEqual([expect.stringMatching(STAYS)]);
      // memory_checker meanwhile: exit 1 with one line, inside its budget — not a silent 0.
      const r = runChecker(['bmp', '1'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^memory_checker: bmp: docker: docker API .*timed out after \d+ ms\n$/);
      // The agent says the feature is disabled on this node: the unit ends, Docker or not.
      u.state('disabled');
      const asked = Date.now();
      expect(await u.ended).toBe(0);
      expect(Date.now() - asked).toBeLessThan(8000);
    } finally {
      process.kill(d.daemon.pid, 'SIGCONT');
    }
    expect(u.lines().at(-1)).toBe('bmp: pod gone and bmp disabled on this node');
    expect(u.marked()).toBe(true);
    // Its watcher and their docker CLIs went with it.
    await waitFor('no process of the unit left', () => processesOf(u.dir).length === 0, 5000, 100);
  });

  it('the marker stays while dockerd is stopped and while the native bmp runs; it goes once Docker shows none', async () => {
    const u = unitShell();
    await waitFor('the unit to see the native bmp', () => u.lines().some((l) => STAYS.test(l)), 20_000, 100);
    process.kill(d.daemon.pid, 'SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 12_000));
      expect(u.marked()).toBe(true);
      expect(u.exited()).toBe(false);
    } finally {
      process.kill(d.daemon.pid, 'SIGCONT');
    }
    // Docker answers again, bmp still runs: still on, and said only once in all this time.
    await new Promise((r) => setTimeout(r, 5000));
    expect(u.marked()).toBe(true);
    expect(u.lines()).toEqual([expect.stringMatching(STAYS)]);
    d.docker('stop', '-t', '1', 'bmp');
    await waitFor('the marker removed', () => !u.marked(), 15_000, 100);
    await waitFor('the removal said', () => u.lines().length === 2, 2000, 50);
    expect(u.lines()[1]).toMatch(
      /^bmp: no native bmp container runs \(docker ps\): removed the native marker \S+bmp\.native; the pod's bmp may start$/,
    );
    u.state('disabled');
    expect(await u.ended).toBe(0);
  }, 60_000);

  it('migrate with dockerd stopped: one line, exit 1, nothing changed on the node or in the cluster', async () => {
    const k = kube('admin');
    const node = clusterEnv().NODE_NAME;
    const spec = join(REPO, 'testbed', 'features', 'bmp.yaml');
    // The cluster side is there (an admin applied it): what stops migrate is Docker alone.
    clusterSide('apply', 'bmp', spec);
    const taintsBefore = (await k.core.readNode({ name: node })).spec?.taints ?? [];
    const labelsBefore = (await k.core.readNode({ name: node })).metadata?.labels;
    const daemonSet = () =>
      k.apps.readNamespacedDaemonSet({ name: 'bmp', namespace: 'sonic' }).then(
        (ds) => ds.metadata?.resourceVersion,
        () => 'none',
      );
    const daemonSetBefore = await daemonSet();
    process.kill(d.daemon.pid, 'SIGSTOP');
    let r: ReturnType<typeof run>;
    try {
      const root = mkdtempSync(join(tmpdir(), 'kubesonic-root-'));
      r = run(process.execPath, [KUBESONIC, 'migrate', 'bmp', '--spec', spec, '--host-root', root], {
        PATH: process.env.PATH,
        DOCKER_HOST: d.host,
        KUBECONFIG: kubeconfigFor('operator'),
        NODE_NAME: node,
        KUBESONIC_REDIS_HOST: '127.0.0.1',
        KUBESONIC_REDIS_PORT: '1', // nothing there: migrate must stop before it needs Redis
      });
    } finally {
      process.kill(d.daemon.pid, 'SIGCONT');
    }
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^kubesonic: migrate bmp: cannot tell whether the native bmp container runs \(docker API .* timed out after \d+ ms\); nothing changed\n$/,
    );
    expect((await k.core.readNode({ name: node })).spec?.taints ?? []).toEqual(taintsBefore);
    expect(await daemonSet()).toBe(daemonSetBefore);
    expect((await k.core.readNode({ name: node })).metadata?.labels).toEqual(labelsBefore);
    clusterSide('remove', 'bmp', spec);
  }, 90_000);

  it('dockerd stopped cleanly removes its socket: Docker is absent, the marker goes, memory_checker says not running', async () => {
    runFeatureContainer(d, 'bmp', 'openbmpd', 16);
    const u = unitShell();
    await waitFor('the unit to see the native bmp', () => u.lines().some((l) => STAYS.test(l)), 20_000, 100);
    await d.daemon.stop(); // SIGTERM, as systemctl stop docker does (its containers stop with it)

    expect(existsSync(d.socket)).toBe(false);
    await waitFor('the marker removed', () => !u.marked(), 15_000, 100);
    u.state('disabled');
    expect(await u.ended).toBe(0);
    expect(run(process.execPath, [KUBESONIC, '--version']).code).toBe(0);
    expect(runChecker(['bmp', '1'], env).code).toBe(0);
  });
});

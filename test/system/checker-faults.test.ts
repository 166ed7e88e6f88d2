// Faults on real parts: a black-holed API server (a real TCP listener that accepts and never
// answers) next to a native bmp in a real dockerd, and that dockerd paused (SIGSTOP by pid) while
// the gate — the pod's init step — and memory_checker ask it. Only a Docker whose socket is gone
// is "none"; a hung one keeps the gate shut and makes memory_checker exit 1.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFeatureContainer, startDockerd, type Dockerd } from '../helpers/docker.js';
import { KUBESONIC, REPO, run, runChecker, testbedBin, waitFor } from '../helpers/procs.js';
import { clusterEnv, clusterSide, kube, kubeconfigFor } from '../helpers/cluster.js';
import { DEFAULT_TIMEOUT_MS } from '../../src/memory/args.js';

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

/** `kubesonic gate bmp` as the init container runs it, in the background: its lines and its end. */
function gate(timeoutS: number) {
  const child = spawn(process.execPath, [KUBESONIC, 'gate', 'bmp', '--timeout', String(timeoutS)], {
    env: { PATH: process.env.PATH, DOCKER_HOST: d.host },
  });
  const lines: string[] = [];
  let exit: number | null | undefined;
  child.stdout.setEncoding('utf8').on('data', (t: string) => lines.push(...t.split('\n').filter(Boolean)));
  child.stderr.setEncoding('utf8').on('data', (t: string) => lines.push(...t.split('\n').filter(Boolean)));
  const ended = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      exit = code;
      r(code);
    }),
  );
  return { lines, ended, exited: () => exit !== undefined, kill: () => child.kill('SIGKILL') };
}

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
  it('the gate stays shut while dockerd is stopped, then waits for the native bmp, then opens', async () => {
    const g = gate(60);
    try {
      await waitFor(
        'the gate to see the native bmp',
        () => g.lines.some((l) => /native container [0-9a-f]{12} is running/.test(l)),
        20_000,
      );
      process.kill(d.daemon.pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 12_000)); // two 5 s questions and more
      expect(g.exited()).toBe(false);
      expect(
        g.lines.filter((l) => /cannot tell whether a native container runs \(.*timed out.*\); waiting for Docker to answer/.test(l)),
      ).toHaveLength(1);
      expect(g.lines.join('\n')).not.toMatch(/may start|nothing native/);
      // memory_checker meanwhile: exit 1 with one line, inside its budget — not a silent 0.
      const r = runChecker(['bmp', '1'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^memory_checker: bmp: docker: docker API .*timed out after \d+ ms\n$/);
    } finally {
      process.kill(d.daemon.pid, 'SIGCONT');
    }
    await waitFor('the gate to see the native bmp again', () => g.lines.filter((l) => /is running; waiting/.test(l)).length >= 2, 20_000);
    expect(g.exited()).toBe(false);
    d.docker('stop', '-t', '1', 'bmp');
    expect(await g.ended).toBe(0);
    expect(g.lines.at(-1)).toBe('gate bmp: no native container running, the pod may start');
  });

  it('a gate that started while dockerd was stopped ends its attempt with exit 1, never 0', async () => {
    process.kill(d.daemon.pid, 'SIGSTOP');
    let code: number | null;
    let lines: string[];
    try {
      const g = gate(6);
      code = await g.ended;
      lines = g.lines;
    } finally {
      process.kill(d.daemon.pid, 'SIGCONT');
    }
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatch(/^kubesonic: gate bmp: Docker gave no answer for 6 s \(.*\); the pod stays shut$/);
  });

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

  it('dockerd stopped cleanly removes its socket: Docker is absent, the gate opens, memory_checker says not running', async () => {
    await d.daemon.stop(); // SIGTERM, as systemctl stop docker does

    expect(existsSync(d.socket)).toBe(false);
    const g = gate(10);
    expect(await g.ended).toBe(0);
    expect(g.lines).toEqual([
      expect.stringMatching(/^gate bmp: no Docker on this node \(docker API .*: no such socket\): nothing native can run$/),
    ]);
    expect(run(process.execPath, [KUBESONIC, '--version']).code).toBe(0);
    expect(runChecker(['bmp', '1'], env).code).toBe(0);
  });
});

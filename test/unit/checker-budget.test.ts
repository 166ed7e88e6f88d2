// memory_checker's time budget split (src/memory/source.ts splitBudget): an API server that
// accepts connections and never answers (a "black hole": a real TCP listener on loopback) may use
// only its share, so the Docker step still measures a native container within the default budget.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUT_MS } from '../../src/memory/args.js';
import { runMemoryChecker } from '../../src/memory/main.js';
import { KUBE_SHARE, splitBudget } from '../../src/memory/source.js';
import type { CheckerSettings } from '../../src/memory/checker.js';
import { DOCKER_ID, fixture } from '../helpers/fixtures.js';

describe('splitBudget', () => {
  it.each([
    // choice, total ms → API server's deadline, whole deadline (from a start of 0)
    ['auto', 1800, 1080, 1800],
    ['cgroup', 1800, 1080, 1800],
    ['kube', 1800, 1800, 1800], // nothing after the API server: all of it
    ['auto', 1, 0, 1],
    ['auto', 600_000, 360_000, 600_000],
  ] as const)('%s with %d ms: API server until %d, the rest until %d', (choice, total, kube, all) => {
    expect(splitBudget(0, total, choice)).toEqual({ kube, total: all });
  });

  it('leaves the local steps at least 40 % of the default budget', () => {
    const b = splitBudget(1000, DEFAULT_TIMEOUT_MS, 'auto');
    expect(b.total - b.kube).toBeGreaterThanOrEqual(0.4 * DEFAULT_TIMEOUT_MS);
    expect(KUBE_SHARE).toBeLessThan(1);
  });
});

describe('a black-holed API server and a native container', () => {
  const WORKING_SET = 123456789 - 23456789; // fixtures/cgroup/v1, the docker container
  let hole: Server;
  const held: Socket[] = [];
  let dockerd: HttpServer;
  let kubeconfig: string;
  let dockerSocket: string;
  const dockerRequests: string[] = [];

  beforeAll(async () => {
    // Accepts every connection and never sends a byte: the TLS handshake waits forever.
    hole = createServer((s) => held.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-budget-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "https://127.0.0.1:${port}"}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: t}}]\n`,
    );
    chmodSync(kubeconfig, 0o600);
    // A Docker that answers at once: bmp runs natively with pid 1 (fixtures/proc has no cgroup
    // file for it, so its cgroup is found under fixtures/cgroup/v1/memory/docker/<id>).
    dockerSocket = join(dir, 'docker.sock');
    dockerd = createHttpServer((req, res) => {
      dockerRequests.push(`${req.method} ${req.url}`);
      const body =
        req.url === '/containers/json'
          ? [{ Id: DOCKER_ID, Names: ['/bmp'], Labels: {} }]
          : { State: { Running: true, Pid: 1 }, Id: DOCKER_ID };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => dockerd.listen(dockerSocket, r));
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => hole.close(r));
    await new Promise((r) => dockerd.close(r));
  });

  const settings = (): CheckerSettings => ({
    cgroupRoot: fixture('cgroup', 'v1'),
    procRoot: fixture('proc'),
    containerdState: '/nonexistent/containerd', // a native switch: no Kubernetes container here
    dockerSocket,
    api: { inCluster: undefined, kubeconfigs: [kubeconfig] },
    nodeName: 'vm',
  });

  async function check(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const started = performance.now();
    const code = await runMemoryChecker(args, settings, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
    return { code, out: out.join(''), err: err.join(''), ms: performance.now() - started };
  }

  it('the Docker figure within the default budget: exit 3, measured via docker', async () => {
    const accepted = held.length;
    const r = await check(['--json', 'bmp', '1']);
    const json = JSON.parse(r.out) as { exitCode: number; via: string; usage: number; notes: string[] };
    expect(held.length).toBeGreaterThan(accepted); // the API server was asked, and held the connection
    expect(json).toMatchObject({ exitCode: 3, via: 'docker', usage: WORKING_SET });
    expect(json.notes).toContain('kube: pod list: timed out');
    expect(r.code).toBe(3);
    // The API server had its share (1.08 s) and not more; the whole check stays inside 1.8 s.
    expect(r.ms).toBeGreaterThanOrEqual(KUBE_SHARE * DEFAULT_TIMEOUT_MS - 20);
    expect(r.ms).toBeLessThan(DEFAULT_TIMEOUT_MS);
    expect(dockerRequests.slice(-2)).toEqual(['GET /containers/json', `GET /containers/${DOCKER_ID}/json`]);
  });

  it("SONiC's two-argument line: exit 3 with the message, or 0 under the threshold", async () => {
    const over = await check(['bmp', String(WORKING_SET - 1)]);
    expect(over).toMatchObject({ code: 3, err: '' });
    expect(over.out).toBe(`[bmp]: Memory usage (${WORKING_SET} Bytes) is larger than the threshold (${WORKING_SET - 1} Bytes)!\n`);
    expect(await check(['bmp', String(WORKING_SET)])).toMatchObject({ code: 0, out: '', err: '' });
  });

  it('--source kube keeps the whole budget for the API server, and fails (exit 1) rather than guess', async () => {
    const r = await check(['--source', 'kube', '--timeout', '400', 'bmp', '1']);
    expect(r.code).toBe(1);
    expect(r.ms).toBeGreaterThanOrEqual(390);
    expect(r.err).toMatch(/^memory_checker: bmp: kubernetes source failed: kube: pod list: timed out\n$/);
  });
});

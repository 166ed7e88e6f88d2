// Docker faults are "unknown", never "not running" (src/host/docker.ts): the real Docker client on a
// real unix-socket HTTP server shaped like each fault, and what memory_checker and migrate make
// of each. Only a socket path that does not exist (or a spec without Docker) is "none".
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DockerAbsent, DockerFault, dockerEngine } from '../../src/host/docker.js';
import { runMemoryChecker } from '../../src/memory/main.js';
import { migratePreflight, migrateSteps } from '../../src/migrate/migrate.js';
import { runSteps } from '../../src/migrate/steps.js';
import type { CheckerSettings } from '../../src/memory/checker.js';
import { nativeSwitch } from '../fakes/switch.js';

type Shape = 'ok' | 'http500' | 'hang' | 'garbage';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A Docker-shaped HTTP server on a unix socket: a native bmp runs, or the daemon fails in one way. */
async function fakeDockerd(shape: Shape): Promise<{ socket: string; requests: string[] }> {
  const socket = join(mkdtempSync(join(tmpdir(), 'kubesonic-dockerd-')), 'docker.sock');
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (shape === 'hang') return; // accepts, reads the request, never answers
    if (shape === 'http500') {
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"message":"driver failed"}');
      return;
    }
    if (shape === 'garbage') {
      res.writeHead(200).end('<html>not docker</html>');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify([{ Id: 'a'.repeat(64), Names: ['/bmp'], Labels: {} }]));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, requests };
}

/** A path where a socket should be but is a plain file: connect() is refused, as with a dead dockerd's stale socket. */
function staleSocket(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kubesonic-dockerd-')), 'docker.sock');
  writeFileSync(path, '');
  return path;
}

const soon = () => Date.now() + 300;

describe('the Docker client classifies every failure', () => {
  it('answers: the native bmp is seen', async () => {
    const d = await fakeDockerd('ok');
    expect((await dockerEngine(d.socket).nativeRunning('bmp', soon()))?.id).toBe('a'.repeat(64));
  });

  it('socket path does not exist: DockerAbsent (the one "none")', async () => {
    await expect(dockerEngine('/nonexistent/docker.sock').listRunning(soon())).rejects.toBeInstanceOf(DockerAbsent);
  });

  it('spec without Docker (socket undefined): DockerAbsent, no connection tried', async () => {
    await expect(dockerEngine(undefined).nativeRunning('bmp', soon())).rejects.toThrow(/spec says this node has no Docker/);
  });

  it.each([
    ['HTTP 500', 'http500', /HTTP 500/],
    ['a daemon that never answers', 'hang', /timed out after \d+ ms/],
    ['garbage', 'garbage', /not JSON/],
  ] as const)('%s: DockerFault, one line', async (_what, shape, message) => {
    const d = await fakeDockerd(shape);
    const started = Date.now();
    const e = await dockerEngine(d.socket)
      .nativeRunning('bmp', soon())
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DockerFault);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).not.toContain('\n');
    expect(Date.now() - started).toBeLessThan(1500); // bounded by the deadline, not the server
    expect(d.requests).toEqual(['GET /containers/json']);
  });

  it('a socket path that exists but refuses: DockerFault (ECONNREFUSED), not absent', async () => {
    await expect(dockerEngine(staleSocket()).listRunning(soon())).rejects.toMatchObject({
      name: 'DockerFault',
      message: expect.stringMatching(/ECONNREFUSED$/),
    });
  });

  it('no time left: DockerFault without a request', async () => {
    const d = await fakeDockerd('ok');
    await expect(dockerEngine(d.socket).listRunning(Date.now() - 1)).rejects.toBeInstanceOf(DockerFault);
    expect(d.requests).toEqual([]);
  });
});

describe('memory_checker: a Docker fault is exit 1, never a silent 0', () => {
  const settings = (dockerSocket: string): CheckerSettings => ({
    cgroupRoot: '/nonexistent/cgroup',
    procRoot: '/nonexistent/proc',
    containerdState: '/nonexistent/containerd',
    dockerSocket,
    api: { inCluster: undefined, kubeconfigs: [] },
    nodeName: 'vm',
  });
  const check = async (socket: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runMemoryChecker(['--timeout', '300', 'bmp', '1'], () => settings(socket), {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
    });
    return { code, out: out.join(''), err: err.join('') };
  };

  it.each([
    ['hang', /docker: .*timed out/],
    ['http500', /docker: docker API list: HTTP 500/],
  ] as const)('Docker %s: exit 1 with one line', async (shape, line) => {
    const d = await fakeDockerd(shape);
    const r = await check(d.socket);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(line);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('refused: exit 1; absent: exit 0 (SONiC: docker not active)', async () => {
    expect((await check(staleSocket())).code).toBe(1);
    expect(await check('/nonexistent/docker.sock')).toEqual({ code: 0, out: '', err: '' });
  });
});

describe('migrate stops before any change when Docker cannot answer', () => {
  it.each(['refused', 'error', 'hang'] as const)('Docker %s: one-line error, exit 1, nothing changed', async (fault) => {
    const sw = nativeSwitch();
    sw.docker.fault = fault;
    const before = { calls: [...sw.cluster.calls], config: await sw.db.read('config', 'bmp') };
    const e = await migratePreflight(sw.ctx, 50).catch((x: unknown) => x);
    expect(e).toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/^migrate bmp: cannot tell whether the native bmp container runs \(.+\); nothing changed$/),
    });
    expect((e as Error).message).not.toContain('\n');
    // Reads only (the cluster side's record): nothing written.
    expect(sw.cluster.calls.slice(before.calls.length).filter((c) => !/^(get|exists|readNode|list)/.test(c))).toEqual([]);
    expect(await sw.db.read('config', 'bmp')).toEqual(before.config);
    expect(sw.cluster.tainted('bmp', 'leaf1')).toBe(false);
    expect(sw.docker.isRunning('bmp')).toBe(true);
  });

  it('Docker absent: the preflight passes and migrate completes', async () => {
    const sw = nativeSwitch();
    sw.docker.halt('bmp');
    sw.docker.fault = 'absent';
    await migratePreflight(sw.ctx);
    await runSteps(migrateSteps(sw.ctx), { dryRun: false, out: () => undefined });
    expect(sw.cluster.runningPodsOf('bmp', 'leaf1')).toHaveLength(1);
  });

  it('a fault that starts mid-migrate stops at stop-native with the hold taint still on (no pod)', async () => {
    const sw = nativeSwitch();
    await migratePreflight(sw.ctx);
    const steps = migrateSteps(sw.ctx);
    await runSteps(steps.slice(0, 3), { dryRun: false, out: () => undefined });
    sw.docker.fault = 'refused';
    await expect(runSteps(steps.slice(3), { dryRun: false, out: () => undefined })).rejects.toBeInstanceOf(DockerFault);
    expect(sw.cluster.runningPodsOf('bmp', 'leaf1')).toHaveLength(0);
    expect(sw.violations).toEqual([]);
  });
});

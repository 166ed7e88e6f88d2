// Credential files (kube/kubeconfig.ts assertPrivate): a kubeconfig, client key or token file with
// any group/other permission bit is refused with one line naming the file and its mode (exit 78),
// never passed over for the next candidate, and SONiC's admin kubeconfig is never a fallback.
// Real files with real modes; the tests run as root, whom the kernel never refuses, so what is
// tested is the mode check itself, not a failed read.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/kube/client.js';
import { assertPrivate, EXIT_UNSAFE_CREDENTIALS, loadCredentials, UnsafeCredentials } from '../../src/kube/kubeconfig.js';
import { runMemoryChecker } from '../../src/memory/main.js';
import { SWITCH_KUBECONFIGS } from '../../src/sonic/paths.js';
import { exitCodeOf } from '../../src/util/errors.js';
import { DOCKER_ID, fixture } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonic-creds-'));
let n = 0;
function file(mode: number, text = 'x'): string {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, text);
  chmodSync(path, mode); // explicit: the umask does not decide the test
  return path;
}

const kubeconfigText = (server: string, user = '{token: t}') =>
  `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "${server}"}}]\n` +
  `contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: ${user}}]\n`;
const noApi = { inCluster: undefined, kubeconfigs: [] };

describe('assertPrivate', () => {
  it.each([0o600, 0o400, 0o700, 0o200])('mode %s is accepted', (mode) => {
    expect(() => assertPrivate(file(mode))).not.toThrow();
  });

  it.each([
    [0o644, '0644'],
    [0o640, '0640'],
    [0o604, '0604'],
    [0o620, '0620'], // group may write: could point root's tools at another server
    [0o602, '0602'],
    [0o610, '0610'],
    [0o666, '0666'],
  ])('mode %s is refused: one line naming the file and mode, exit 78', (mode, shown) => {
    const path = file(mode);
    const e = (() => {
      try {
        assertPrivate(path);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(UnsafeCredentials);
    expect((e as Error).message).toBe(`${path}: mode ${shown} lets group or others read or change it; refusing it (chmod 600 ${path})`);
    expect(exitCodeOf(e)).toBe(EXIT_UNSAFE_CREDENTIALS);
    expect(EXIT_UNSAFE_CREDENTIALS).toBe(78);
  });
});

describe('the lean loader (memory_checker, the agent)', () => {
  it('a private kubeconfig loads', async () => {
    const kc = file(0o600, kubeconfigText('https://127.0.0.1:1'));
    expect(await loadCredentials(kc, noApi)).toMatchObject({ server: 'https://127.0.0.1:1', token: 't', origin: kc });
  });

  it('--kubeconfig 0644 is refused', async () => {
    await expect(loadCredentials(file(0o644, kubeconfigText('https://a')), noApi)).rejects.toBeInstanceOf(UnsafeCredentials);
  });

  it('$KUBECONFIG 0644 is refused, not passed over for the next file', async () => {
    const bad = file(0o644, kubeconfigText('https://bad'));
    const good = file(0o600, kubeconfigText('https://good'));
    await expect(loadCredentials(undefined, { inCluster: undefined, kubeconfigs: [bad, good] })).rejects.toThrow(bad);
  });

  it('a client-key file others can read is refused; a public certificate is not checked', async () => {
    const key = file(0o644, 'KEY');
    const cert = file(0o644, 'CERT');
    const kc = file(0o600, kubeconfigText('https://a', `{client-certificate: ${cert}, client-key: ${key}}`));
    await expect(loadCredentials(kc, noApi)).rejects.toThrow(`${key}: mode 0644`);
    chmodSync(key, 0o600);
    await expect(loadCredentials(kc, noApi)).resolves.toMatchObject({ key: Buffer.from('KEY'), cert: Buffer.from('CERT') });
  });

  it('a token file others can read is refused', async () => {
    const token = file(0o604, 'secret\n');
    await expect(loadCredentials(file(0o600, kubeconfigText('https://a', `{tokenFile: ${token}}`)), noApi)).rejects.toThrow(
      `${token}: mode 0604`,
    );
  });
});

describe('the client-node loader (kubesonic migrate, systemd, restart)', () => {
  it('0644 is refused with exit 78; 0600 loads', () => {
    const path = file(0o644, kubeconfigText('https://a'));
    expect(() => loadKubeConfig(path, noApi)).toThrow(UnsafeCredentials);
    expect(() => loadKubeConfig(undefined, { inCluster: undefined, kubeconfigs: [path] })).toThrow(`${path}: mode 0644`);
    chmodSync(path, 0o600);
    expect(loadKubeConfig(path, noApi).getCurrentCluster()?.server).toBe('https://a');
  });

  it("the user's client-key file is checked too", () => {
    const key = file(0o640, 'KEY');
    const path = file(0o600, kubeconfigText('https://a', `{client-key: ${key}}`));
    expect(() => loadKubeConfig(path, noApi)).toThrow(`${key}: mode 0640`);
  });
});

describe('no silent admin fallback', () => {
  it("the switch's default kubeconfigs never include SONiC's admin kubeconfig", () => {
    expect(SWITCH_KUBECONFIGS.filter((p) => /admin/.test(p))).toEqual([]);
    expect(SWITCH_KUBECONFIGS.slice(0, 2)).toEqual(['/etc/kubesonic/switch.kubeconfig', '/etc/sonic/kubesonic/kubeconfig']);
  });
});

describe('memory_checker with a refused kubeconfig found by default', () => {
  // An API server that counts connections: a refused kubeconfig must not be used at all.
  let api: Server;
  let connections = 0;
  let dockerd: HttpServer;
  let dockerSocket: string;
  let port = 0;

  beforeAll(async () => {
    api = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    port = (api.address() as { port: number }).port;
    dockerSocket = join(dir, 'docker.sock');
    dockerd = createHttpServer((req, res) => {
      const body = req.url === '/containers/json' ? [{ Id: DOCKER_ID, Names: ['/bmp'], Labels: {} }] : { State: { Running: true, Pid: 1 } };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => dockerd.listen(dockerSocket, r));
  });
  afterAll(async () => {
    await new Promise((r) => api.close(r));
    await new Promise((r) => dockerd.close(r));
  });

  async function check(kubeconfigs: string[], args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const settings = () => ({
      cgroupRoot: fixture('cgroup', 'v1'),
      procRoot: fixture('proc'),
      containerdState: '/nonexistent/containerd',
      dockerSocket,
      api: { inCluster: undefined, kubeconfigs },
      nodeName: 'vm',
    });
    const code = await runMemoryChecker(args, settings, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('skips the API server with one stderr line and still measures the native container: exit 3 from Docker', async () => {
    const kc = file(0o644, kubeconfigText(`https://127.0.0.1:${port}`));
    const r = await check([kc], ['bmp', '1']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^\[bmp\]: Memory usage \(100000000 Bytes\) is larger than the threshold \(1 Bytes\)!\n$/);
    expect(r.err).toBe(
      `memory_checker: bmp: kube source skipped: ${kc}: mode 0644 lets group or others read or change it; refusing it (chmod 600 ${kc})\n`,
    );
    expect(connections).toBe(0);
  });

  it('below the threshold: exit 0 (a measured 0, not a skipped check), the same one line', async () => {
    const kc = file(0o640, kubeconfigText(`https://127.0.0.1:${port}`));
    const r = await check([kc], ['--json', 'bmp', '999999999']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      status: 'measured',
      via: 'docker',
      exitCode: 0,
      warnings: [expect.stringContaining('mode 0640')],
    });
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('--kubeconfig named on the command line and refused: exit 1, one line', async () => {
    const kc = file(0o644, kubeconfigText(`https://127.0.0.1:${port}`));
    const r = await check([], ['--kubeconfig', kc, 'bmp', '1']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe(`memory_checker: bmp: ${kc}: mode 0644 lets group or others read or change it; refusing it (chmod 600 ${kc})\n`);
    expect(connections).toBe(0);
  });
});

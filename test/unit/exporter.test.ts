// The exporter under concurrent scrapes, against a real HTTPS server on loopback (TLS and kept-alive
// connections are the point): one collection in flight however many scrapes arrive, figures cached
// for --cache-ms, and one check's clean-up never closing a connection another check is using.
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryExporter, parseCacheMs, type ExporterOptions } from '../../src/exporter/exporter.js';
import { checkMemory, type CheckerSettings } from '../../src/memory/checker.js';
import { parseCheckerArgs, type CheckerOptions } from '../../src/memory/args.js';
import { ExitError } from '../../src/util/errors.js';
import { fixture } from '../helpers/fixtures.js';

const FEATURES = ['bmp', 'snmp', 'telemetry'];
const MiB = 1024 * 1024;
/** Per pod: how long the metrics answer takes (ms). */
const metricsDelay = new Map<string, number>();
const requests: string[] = [];
/** TLS connections the server accepted: full handshakes and resumed sessions. */
const handshakes = { full: 0, resumed: 0 };
let server: Server;
let settings: CheckerSettings;

const pod = (f: string) => ({
  metadata: { name: `${f}-pod`, uid: `uid-${f}` },
  spec: { nodeName: 'vm', containers: [{ name: f }] },
  status: {
    phase: 'Running',
    qosClass: 'Burstable',
    containerStatuses: [{ name: f, containerID: `containerd://${f}0123456789`, state: { running: {} } }],
  },
});

beforeAll(async () => {
  server = createServer({ key: readFileSync(fixture('tls', 'key.pem')), cert: readFileSync(fixture('tls', 'cert.pem')) }, (req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'https://x');
    const reply = (body: unknown) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/api/v1/namespaces/sonic/pods') return reply({ items: FEATURES.map(pod) });
    const m = /^\/apis\/metrics\.k8s\.io\/v1beta1\/namespaces\/sonic\/pods\/(.+)-pod$/.exec(url.pathname);
    if (!m) return res.writeHead(404).end('{}');
    const f = m[1]!;
    setTimeout(() => reply({ containers: [{ name: f, usage: { memory: `${FEATURES.indexOf(f) + 1}Mi` } }] }), metricsDelay.get(f) ?? 0);
  });
  server.on('secureConnection', (socket) => {
    if (socket.isSessionReused()) handshakes.resumed++;
    else handshakes.full++;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-exporter-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const ca = readFileSync(fixture('tls', 'cert.pem')).toString('base64');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${ca}}}]\n` +
      'contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: t}}]\n',
    { mode: 0o600 }, // a credential others can read is refused (kube/kubeconfig.ts)
  );
  settings = {
    cgroupRoot: fixture('cgroup', 'v2-systemd'),
    procRoot: fixture('proc'),
    containerdState: fixture('containerd'),
    dockerSocket: '/nonexistent/docker.sock',
    api: { inCluster: undefined, kubeconfigs: [kubeconfig] },
    nodeName: 'vm',
  };
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  requests.length = 0;
  metricsDelay.clear();
});

function checkerOptions(f: string): CheckerOptions {
  const parsed = parseCheckerArgs([f, '838860800', '--node', 'vm']);
  if (parsed.kind !== 'run') throw new Error('bad test args');
  return parsed.options;
}

const podLists = () => requests.filter((r) => r.startsWith('/api/v1/')).length;

describe('connections per check', () => {
  it('a check that ends first does not close the connection of a check still waiting (same source for both)', async () => {
    metricsDelay.set('bmp', 300); // bmp's metrics answer arrives after snmp's check has finished and cleaned up
    const [bmp, snmp] = await Promise.all([checkMemory(checkerOptions('bmp'), settings), checkMemory(checkerOptions('snmp'), settings)]);
    expect(snmp).toMatchObject({ status: 'measured', source: 'metrics.k8s.io', usage: 2 * MiB });
    expect(bmp).toMatchObject({ status: 'measured', source: 'metrics.k8s.io', usage: 1 * MiB, notes: [] });
  });
});

describe('TLS sessions', () => {
  it('a later check resumes the TLS session of an earlier one (its own connection, no full handshake)', async () => {
    await checkMemory(checkerOptions('bmp'), settings);
    const before = { ...handshakes };
    await checkMemory(checkerOptions('snmp'), settings);
    expect(handshakes.resumed - before.resumed).toBe(1);
    expect(handshakes.full - before.full).toBe(0);
  });
});

describe('MemoryExporter collections', () => {
  function exporter(cacheMs: number) {
    let clock = 0;
    const opts: ExporterOptions = {
      features: FEATURES.map((feature) => ({ feature, threshold: 838860800 })),
      namespace: 'sonic',
      node: 'vm',
      kubeconfig: undefined,
      timeoutMs: 5000,
      cacheMs,
      settings,
    };
    const e = new MemoryExporter(opts, () => clock);
    return { e, advance: (ms: number) => (clock += ms) };
  }

  it('ten concurrent scrapes share one collection: one pod list per feature', async () => {
    const { e } = exporter(1000);
    metricsDelay.set('telemetry', 100);
    await Promise.all(Array.from({ length: 10 }, () => e.refresh()));
    expect(podLists()).toBe(FEATURES.length);
  });

  it('past cacheMs a scrape is answered from the last figures at once while one new collection runs', async () => {
    const { e, advance } = exporter(1000);
    await e.refresh();
    advance(1000);
    metricsDelay.set('bmp', 300);
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => e.refresh()));
    expect(performance.now() - started).toBeLessThan(100); // not the 300 ms the collection takes
    await e.idle();
    expect(podLists()).toBe(2 * FEATURES.length);
  });

  it.each([
    { cacheMs: 1000, after: 999, collections: 1 },
    { cacheMs: 1000, after: 1000, collections: 2 },
    { cacheMs: 0, after: 0, collections: 2 },
  ])('cache $cacheMs ms, scraped again after $after ms → $collections collection(s)', async ({ cacheMs, after, collections }) => {
    const { e, advance } = exporter(cacheMs);
    await e.refresh();
    advance(after);
    await e.refresh();
    await e.idle();
    expect(podLists()).toBe(collections * FEATURES.length);
  });

  it('publishes every feature with its source, the same on every scrape', async () => {
    const { e, advance } = exporter(0);
    const sources = new Set<string>();
    for (let i = 0; i < 5; i++) {
      metricsDelay.set(FEATURES[i % FEATURES.length]!, 50); // a different slow feature each round
      await Promise.all([e.refresh(), e.refresh()]);
      await e.idle();
      const text = await e.registry.metrics();
      for (const m of text.matchAll(/^kubesonic_feature_memory_working_set_bytes\{feature="(\w+)",source="([^"]+)"/gm))
        sources.add(`${m[1]} ${m[2]}`);
      advance(1);
      metricsDelay.clear();
    }
    expect([...sources].sort()).toEqual(FEATURES.map((f) => `${f} metrics.k8s.io`).sort());
  });
});

describe('--cache-ms', () => {
  it.each([0, 1, 1000, 60_000])('%s is accepted', (v) => expect(parseCacheMs(v)).toBe(v));
  it.each([-1, 1.5, Number.NaN, '100', undefined])('%s is a one-line error, exit 2', (v) => {
    expect(() => parseCacheMs(v)).toThrow(ExitError);
    try {
      parseCacheMs(v);
    } catch (e) {
      expect((e as ExitError).exitCode).toBe(2);
      expect((e as ExitError).message).not.toContain('\n');
    }
  });
});

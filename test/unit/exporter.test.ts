// The exporter under concurrent scrapes, against a real HTTPS server on loopback (TLS and kept-alive
// connections are the point): one collection in flight however many scrapes arrive, figures cached
// for --cache-ms and refreshed in the background, and one check's clean-up never closing a
// connection another check is using.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKS_AT_ONCE, MemoryExporter, parseCacheMs, type ExporterOptions } from '../../src/exporter/exporter.js';
import { checkMemory, type CheckerSettings } from '../../src/memory/checker.js';
import { fileSessionStore } from '../../src/kube/tls-sessions.js';
import { parseCheckerArgs, type CheckerOptions } from '../../src/memory/args.js';
import { ExitError } from '../../src/util/errors.js';
import { fixture, fixtureCheckerSettings } from '../helpers/fixtures.js';

const FEATURES = ['bmp', 'snmp', 'telemetry'];
const MiB = 1024 * 1024;
/** Per pod: how long the metrics answer takes (ms). */
const metricsDelay = new Map<string, number>();
/** Per feature: the working set the metrics API reports (MiB); default: its place in FEATURES + 1. */
const usageMi = new Map<string, number>();
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
    setTimeout(
      () => reply({ containers: [{ name: f, usage: { memory: `${usageMi.get(f) ?? FEATURES.indexOf(f) + 1}Mi` } }] }),
      metricsDelay.get(f) ?? 0,
    );
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
  settings = fixtureCheckerSettings([kubeconfig]);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  requests.length = 0;
  metricsDelay.clear();
  usageMi.clear();
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

describe('TLS sessions across processes (memory_checker as root: kube/tls-sessions.ts)', () => {
  const isRoot = process.geteuid?.() === 0;
  /** A root-owned directory chain: /tmp is anyone's to write, so no store is kept under it. */
  const base = '/var/lib/kubesonic-test/unit-tls-sessions';
  /** A new process as far as sessions go: the same credential read from a path of its own, so nothing is in memory. */
  const freshProcess = (store: string | undefined) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-kc-'));
    const kubeconfig = join(dir, 'kubeconfig');
    copyFileSync(settings.api.kubeconfigs[0]!, kubeconfig);
    return { ...settings, api: { inCluster: undefined, kubeconfigs: [kubeconfig] }, tlsSessionDir: store };
  };

  it.skipIf(!isRoot)(
    'a later run resumes the session the last run kept (0600, in a 0700 directory); a file others may write is never read',
    async () => {
      mkdirSync(base, { recursive: true, mode: 0o755 });
      const store = join(mkdtempSync(join(base, 'run-')), 'sessions');
      let before = { ...handshakes };
      const first = await checkMemory(checkerOptions('bmp'), freshProcess(store));
      expect(first).toMatchObject({ status: 'measured', tlsResumed: 0 });
      expect(handshakes.full - before.full).toBe(1);
      const [file] = readdirSync(store);
      expect({ dir: statSync(store).mode & 0o777, file: statSync(join(store, file!)).mode & 0o777 }).toEqual({ dir: 0o700, file: 0o600 });

      before = { ...handshakes };
      const second = await checkMemory(checkerOptions('bmp'), freshProcess(store));
      expect(second).toMatchObject({ status: 'measured', tlsResumed: 1 });
      expect({ full: handshakes.full - before.full, resumed: handshakes.resumed - before.resumed }).toEqual({ full: 0, resumed: 1 });

      chmodSync(join(store, file!), 0o666);
      before = { ...handshakes };
      const third = await checkMemory(checkerOptions('bmp'), freshProcess(store));
      expect(third).toMatchObject({ status: 'measured', tlsResumed: 0 });
      expect(handshakes.full - before.full).toBe(1);
      // Replaced by the full handshake's session, root's alone again.
      expect(statSync(join(store, file!)).mode & 0o777).toBe(0o600);
    },
  );

  it('no store for a process that is not root, or under a directory others may write', async () => {
    expect(fileSessionStore('/run/kubesonic/tls-sessions', 1000)).toBeUndefined();
    const underTmp = join(mkdtempSync(join(tmpdir(), 'kubesonic-sessions-')), 'sessions');
    const before = { ...handshakes };
    await checkMemory(checkerOptions('bmp'), freshProcess(underTmp));
    await checkMemory(checkerOptions('bmp'), freshProcess(underTmp));
    expect(handshakes.full - before.full).toBe(2);
    expect(readdirSync(underTmp)).toEqual([]);
  });
});

describe('MemoryExporter collections', () => {
  const started: MemoryExporter[] = [];
  afterEach(async () => {
    for (const e of started.splice(0)) {
      e.stop();
      await e.idle();
    }
  });

  function exporter(cacheMs: number, check?: ConstructorParameters<typeof MemoryExporter>[1], features = FEATURES) {
    const opts: ExporterOptions = {
      features: features.map((feature) => ({ feature, threshold: 838860800 })),
      namespace: 'sonic',
      node: 'vm',
      kubeconfig: undefined,
      timeoutMs: 5000,
      cacheMs,
      settings,
    };
    const e = new MemoryExporter(opts, check);
    started.push(e);
    return e;
  }
  const bmpBytes = (text: string) => Number(/^kubesonic_feature_memory_working_set_bytes\{feature="bmp"[^}]*\} (\d+)$/m.exec(text)?.[1]);

  it('ten scrapes before the first collection share it: one pod list per feature', async () => {
    const e = exporter(1000);
    metricsDelay.set('telemetry', 100);
    const bodies = await Promise.all(Array.from({ length: 10 }, () => e.scrape()));
    expect(podLists()).toBe(FEATURES.length);
    expect(new Set(bodies).size).toBe(1);
    expect(bmpBytes(bodies[0]!)).toBe(1 * MiB);
  });

  it('collects in the background every cacheMs, scraped or not: new figures reach the next scrape', async () => {
    const e = exporter(100);
    e.start();
    expect(bmpBytes(await e.scrape())).toBe(1 * MiB);
    usageMi.set('bmp', 7);
    await sleep(350); // ≥ 2 more collections, no scrape meanwhile
    expect(podLists()).toBeGreaterThanOrEqual(3 * FEATURES.length);
    expect(bmpBytes(await e.scrape())).toBe(7 * MiB);
  });

  it('a scrape while a slow collection runs gets the last completed one at once', async () => {
    const e = exporter(50);
    e.start();
    await e.scrape();
    metricsDelay.set('bmp', 400);
    usageMi.set('bmp', 9);
    await sleep(120); // the next collection has started and waits for bmp's metrics
    const t0 = performance.now();
    const text = await e.scrape();
    expect(performance.now() - t0).toBeLessThan(200); // not the 400 ms the collection takes (a loaded CI: tens of ms)
    expect(bmpBytes(text)).toBe(1 * MiB);
    await e.idle();
    expect(bmpBytes(await e.scrape())).toBe(9 * MiB);
  });

  it('answers /metrics over HTTP from the last collection while the API server is slow', async () => {
    const e = exporter(50);
    const server = await e.listen('127.0.0.1', 0);
    try {
      e.start();
      await e.scrape();
      metricsDelay.set('snmp', 500);
      await sleep(100);
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      const text = await res.text();
      expect(performance.now() - t0).toBeLessThan(250); // not the 500 ms snmp's metrics take
      expect(res.status).toBe(200);
      expect(bmpBytes(text)).toBe(1 * MiB);
    } finally {
      server.close();
    }
  });

  it('never runs two collections at once, even when one takes longer than cacheMs', async () => {
    let running = 0;
    let most = 0;
    const check: typeof checkMemory = async (options, s) => {
      most = Math.max(most, ++running);
      try {
        await sleep(options.container === 'bmp' ? 120 : 5);
        return await checkMemory(options, s);
      } finally {
        running--;
      }
    };
    const e = exporter(10, check, ['bmp']);
    e.start();
    await sleep(400);
    expect(most).toBe(1);
    expect(podLists()).toBeGreaterThanOrEqual(2);
  });

  it(`starts the checks one per turn of the event loop, at most ${CHECKS_AT_ONCE} in flight`, async () => {
    // 20 features whose checks each hold the loop 8 ms (as parsing and TLS set-up do, more slowly):
    // started all at once they would hold it 160 ms; a scrape must wait for one check, not all.
    // Counted in turns of the loop (a setImmediate probe), not milliseconds: the same on a slow CI.
    const features = Array.from({ length: 20 }, (_, i) => `f${i}`);
    let inFlight = 0;
    let most = 0;
    let turn = 0;
    const startsInTurn = new Map<number, number>();
    const check: typeof checkMemory = async (options) => {
      most = Math.max(most, ++inFlight);
      startsInTurn.set(turn, (startsInTurn.get(turn) ?? 0) + 1);
      const until = performance.now() + 8;
      while (performance.now() < until); // busy: the event loop is held
      await sleep(1);
      inFlight--;
      return { status: 'not-running', container: options.container, notes: [] };
    };
    const e = exporter(1000, check, features);
    let probing = true;
    const probe = () => {
      turn++;
      if (probing) setImmediate(probe);
    };
    setImmediate(probe);
    await e.collect();
    probing = false;
    expect([...startsInTurn.values()].reduce((a, b) => a + b, 0)).toBe(features.length);
    expect(Math.max(...startsInTurn.values())).toBe(1);
    expect(most).toBeLessThanOrEqual(CHECKS_AT_ONCE);
    expect(most).toBeGreaterThan(1);
  });

  it.each([
    { cacheMs: 1000, collections: 1 },
    { cacheMs: 0, collections: 2 },
  ])(
    'cache $cacheMs ms, without the background loop, two scrapes in a row → $collections collection(s)',
    async ({ cacheMs, collections }) => {
      const e = exporter(cacheMs);
      await e.scrape();
      await e.scrape();
      await e.idle();
      expect(podLists()).toBe(collections * FEATURES.length);
    },
  );

  it('publishes every feature with its source, the same on every scrape', async () => {
    const e = exporter(0);
    const sources = new Set<string>();
    for (let i = 0; i < 5; i++) {
      metricsDelay.set(FEATURES[i % FEATURES.length]!, 50); // a different slow feature each round
      const [text] = await Promise.all([e.scrape(), e.scrape()]);
      for (const m of text.matchAll(/^kubesonic_feature_memory_working_set_bytes\{feature="(\w+)",source="([^"]+)"/gm))
        sources.add(`${m[1]} ${m[2]}`);
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

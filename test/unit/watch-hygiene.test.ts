// The agent's list+watch loop (feature/view.ts) against a real local HTTP server speaking the API
// server's list and watch, through the lean client (kube/lean.ts): a server that ends every watch
// cleanly at once must not be hammered (jittered backoff), a watch that stayed up long enough is
// resumed at once from its last resourceVersion (no list; a 410 starts over with one), and a silent
// connection is replaced once no event or bookmark came for idleMs. Request rates are measured on the server.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { leanClusterReader } from '../../src/kube/lean.js';
import { backoffMs, NodeView, type WatchTiming } from '../../src/feature/view.js';

type WatchMode =
  | { kind: 'close' }
  | { kind: 'silent' }
  | { kind: 'bookmarks'; everyMs: number }
  /** Each watch delivers a bookmark at resourceVersion 9 + its number, then ends cleanly after `ms`; `gone`: a resume from an older one is answered 410. */
  | { kind: 'hold'; ms: number; gone?: boolean }
  | { kind: 'reset' };

interface Hit {
  at: number;
  what: 'pod-list' | 'node-get' | 'pod-watch' | 'node-watch';
  url: string;
}

const NODE = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'leaf1', resourceVersion: '7' } };

let server: Server | undefined;
let view: NodeView | undefined;
const open = new Set<ServerResponse>();
const timers = new Set<NodeJS.Timeout>();

afterEach(async () => {
  view?.stop();
  view = undefined;
  for (const t of timers) clearInterval(t);
  timers.clear();
  for (const r of open) r.destroy();
  open.clear();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function apiServer(mode: WatchMode): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  let watches = 0;
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true';
    const pods = url.pathname.endsWith('/pods');
    hits.push({
      at: performance.now(),
      what: watch ? (pods ? 'pod-watch' : 'node-watch') : pods ? 'pod-list' : 'node-get',
      url: req.url ?? '',
    });
    if (watch && mode.kind === 'hold' && mode.gone && pods && url.searchParams.get('resourceVersion') !== '5') {
      // The resume's resourceVersion is older than the watch cache's window.
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired' }));
      return;
    }
    if (!watch) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(pods ? { items: [], metadata: { resourceVersion: '5' } } : NODE));
      return;
    }
    if (mode.kind === 'reset') {
      res.socket?.destroy(); // the connection dies before any answer: the client sees an error
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    open.add(res);
    res.on('close', () => open.delete(res));
    if (mode.kind === 'close') res.end();
    else if (mode.kind === 'hold') {
      const n = watches++;
      res.write(
        `${JSON.stringify({ type: 'BOOKMARK', object: { kind: pods ? 'Pod' : 'Node', metadata: { resourceVersion: String(9 + n) } } })}\n`,
      );
      setTimeout(() => res.end(), mode.ms);
    } else if (mode.kind === 'bookmarks') {
      const t = setInterval(() => {
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: pods ? 'Pod' : 'Node', metadata: { resourceVersion: '9' } } })}\n`);
      }, mode.everyMs);
      timers.add(t);
      res.on('close', () => clearInterval(t));
    }
    // silent: headers sent, then nothing, ever — a connection that died without a FIN
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as { port: number }).port}`, hits };
}

function startView(url: string, timing: Partial<WatchTiming>, log: string[] = []): NodeView {
  const cluster = leanClusterReader({ server: url, origin: 'test' });
  view = new NodeView(
    cluster,
    { namespace: 'sonic', node: 'leaf1', labelSelector: 'app=bmp' },
    () => undefined,
    (l) => log.push(l),
    timing.maxBackoffMs ?? 10_000,
    { random: () => 0.5, ...timing },
  );
  void view.start();
  return view;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const of = (hits: Hit[], what: Hit['what']) => hits.filter((h) => h.what === what);
const gaps = (hits: Hit[]) => hits.slice(1).map((h, i) => h.at - hits[i]!.at);

describe('backoffMs', () => {
  it.each([
    // attempt, ceiling, random → ms: 200 doubling, capped, jittered into the upper half of the step
    [0, 10_000, 0, 100],
    [0, 10_000, 0.999_999, 200],
    [3, 10_000, 0.5, 1200],
    [6, 10_000, 0, 5000],
    [6, 10_000, 0.999_999, 10_000],
    [40, 10_000, 0.5, 7500], // far past the ceiling, no overflow
  ])('attempt %d, ceiling %d, random %d → %d ms', (attempt, maxBackoffMs, random, ms) => {
    expect(backoffMs(attempt, { maxBackoffMs, random: () => random })).toBe(ms);
  });
});

describe('the watch loop on a real HTTP server', () => {
  it('a server that ends every watch cleanly at once: backoff, not a hot loop (jittered, bounded by the ceiling)', async () => {
    const { url, hits } = await apiServer({ kind: 'close' });
    startView(url, { maxBackoffMs: 800, healthyMs: 60_000 });
    await sleep(2500);
    const lists = of(hits, 'pod-list');
    // Without backoff this is thousands of lists in 3 s. With it: 150, 300, 600, then 600 ms steps.
    expect(lists.length).toBeGreaterThanOrEqual(4);
    expect(lists.length).toBeLessThanOrEqual(8);
    const g = gaps(lists);
    expect(g[0]!).toBeGreaterThanOrEqual(140);
    expect(Math.max(...g)).toBeLessThan(800 + 300); // the ceiling, plus what a loaded CI adds to a timer
    expect(g.at(-1)!).toBeGreaterThanOrEqual(590); // grew to the (jittered) ceiling and stays there
    expect(of(hits, 'node-get').length).toBeLessThanOrEqual(8); // the node's loop backs off the same way
  });

  it('with the default ceiling (10 s) a closing server sees at most one list per second after warm-up', async () => {
    const { url, hits } = await apiServer({ kind: 'close' });
    startView(url, { healthyMs: 60_000 });
    await sleep(3000);
    const lists = of(hits, 'pod-list');
    expect(lists.length).toBeLessThanOrEqual(5); // 150, 300, 600, 1200 ms apart, then 2400
    const late = lists.filter((h) => h.at - lists[0]!.at > 1500);
    expect(late.length).toBeLessThanOrEqual(1);
  });

  it('a watch that ended cleanly after the healthy period is resumed at once from its last resourceVersion: no list, still fresh', async () => {
    const { url, hits } = await apiServer({ kind: 'hold', ms: 300 });
    const log: string[] = [];
    const v = startView(url, { maxBackoffMs: 5000, healthyMs: 250 }, log);
    let staleSeen = false;
    const t = setInterval(() => {
      if (of(hits, 'pod-watch').length > 0 && !v.fresh) staleSeen = true;
    }, 10);
    timers.add(t);
    await sleep(1700);
    const watches = of(hits, 'pod-watch');
    expect(of(hits, 'pod-list')).toHaveLength(1);
    expect(of(hits, 'node-get')).toHaveLength(1);
    expect(watches.length).toBeGreaterThanOrEqual(4);
    // Each resume follows its watch's end (300 ms after it began) within a few ms, from the
    // resourceVersion that watch's bookmark carried; the first from the list's.
    for (let i = 1; i < watches.length; i++) expect(watches[i]!.at - watches[i - 1]!.at).toBeLessThan(300 + 60);
    const rvs = watches.map((w) => new URL(w.url, 'http://x').searchParams.get('resourceVersion'));
    expect(rvs[0]).toBe('5');
    for (let i = 1; i < rvs.length; i++) expect(Number(rvs[i])).toBeGreaterThanOrEqual(9);
    expect(staleSeen).toBe(false);
    expect(log).toEqual([]);
  });

  it('a resume the API server refuses (410 Gone: too old) starts over with a list', async () => {
    const { url, hits } = await apiServer({ kind: 'hold', ms: 300, gone: true });
    const log: string[] = [];
    startView(url, { maxBackoffMs: 5000, healthyMs: 250 }, log);
    await sleep(1200);
    // list → watch (ends cleanly) → resume refused → list → watch …
    expect(of(hits, 'pod-list').length).toBeGreaterThanOrEqual(2);
    expect(log.some((l) => /^pod resumed watch failed \(retrying\): .*410/.test(l))).toBe(true);
  });

  it('the same watches, shorter than the healthy period: each cycle waits longer', async () => {
    const { url, hits } = await apiServer({ kind: 'hold', ms: 100 });
    startView(url, { maxBackoffMs: 5000, healthyMs: 10_000 });
    await sleep(2000);
    const lists = of(hits, 'pod-list');
    const waits = lists.slice(1).map((l, i) => l.at - of(hits, 'pod-watch')[i]!.at - 100);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0]!).toBeGreaterThanOrEqual(140);
    expect(waits[1]!).toBeGreaterThan(waits[0]!);
  });

  it('a silent connection is replaced after idleMs; the view is stale meanwhile only until the re-list', async () => {
    const { url, hits } = await apiServer({ kind: 'silent' });
    const log: string[] = [];
    const v = startView(url, { idleMs: 300, healthyMs: 60_000 }, log);
    await sleep(1400);
    const watches = of(hits, 'pod-watch');
    // 300 ms silent, ~100 ms backoff, again: about three watches in 1.4 s (not one for 11 minutes).
    expect(watches.length).toBeGreaterThanOrEqual(3);
    expect(watches.length).toBeLessThanOrEqual(4);
    expect(gaps(watches).every((g) => g >= 300)).toBe(true);
    expect(log).toContain('pod watch silent for 0 s: reconnecting');
    expect(open.size).toBeLessThanOrEqual(2); // the dead connections were closed, not leaked (one per loop)
    expect(v.fresh).toBe(true);
  });

  it('bookmarks keep a quiet watch alive: one watch per loop, both asking for bookmarks', async () => {
    const { url, hits } = await apiServer({ kind: 'bookmarks', everyMs: 100 });
    const v = startView(url, { idleMs: 300, healthyMs: 60_000 });
    await sleep(1200);
    expect(of(hits, 'pod-watch')).toHaveLength(1);
    expect(of(hits, 'node-watch')).toHaveLength(1);
    for (const w of [...of(hits, 'pod-watch'), ...of(hits, 'node-watch')]) expect(w.url).toContain('allowWatchBookmarks=true');
    expect(v.fresh).toBe(true);
  });

  it('a watch whose connection fails is one failure, not two loops', async () => {
    const { url, hits } = await apiServer({ kind: 'reset' });
    startView(url, { maxBackoffMs: 400, healthyMs: 60_000 });
    await sleep(2000);
    // One loop: 150, 300, 300, 300… ms apart → about 7 lists. Two loops per failure would double
    // every cycle (hundreds).
    const lists = of(hits, 'pod-list');
    expect(lists.length).toBeLessThanOrEqual(9);
    expect(Math.min(...gaps(lists))).toBeGreaterThanOrEqual(90);
  });
});

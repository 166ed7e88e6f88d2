// Bookmarks on the real API server (testbed v1.36): both of the agent's watches, asked for them,
// get one about once a minute while the objects the agent watches stay unchanged — each carries the
// newest resourceVersion the view resumes from when the watch ends (feature/view.ts). The same run
// keeps a NodeView with a watchdog shorter than one watch (75 s against the default 330 s) but
// longer than a bookmark period: it must not reconnect.
//
// What "quiet" means, read in the API server's cacher (apiserver v0.36 cache_watcher.go): a bookmark
// carries the resource's watch-cache revision, and a watcher never gets one that is not newer than
// the revision it started from. So bookmarks come when *some* pod (some node) in the cluster changed
// since the watch began — in a fleet, always — and never in a cluster where no pod changes at all;
// there a watch simply runs to its timeoutSeconds and is resumed (unit: watch-hygiene.test.ts). A CI
// run once fell into that second case (no pod anywhere changed for 80 s). The test therefore keeps
// the cluster as a fleet is: a pacer pod and a pacer node, neither of them watched by the agent, get
// an annotation changed every 10 s.
import { type CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WATCH_TIMING, NodeView } from '../../src/feature/view.js';
import { loadCredentials } from '../../src/kube/kubeconfig.js';
import { leanClusterReader } from '../../src/kube/lean.js';
import type { WatchHandle } from '../../src/kube/cluster.js';
import { clusterEnv, kube, kubeconfigFor } from '../helpers/cluster.js';

const WINDOW_MS = 80_000;
const PACER = 'kubesonic-bookmark-pacer';
const admin = kube('admin');
let pacing: NodeJS.Timeout | undefined;

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const ignoreConflict = (e: unknown) => {
  if ((e as { code?: number }).code !== 409) throw e;
};

async function pace(core: CoreV1Api, n: number): Promise<void> {
  const body = { metadata: { annotations: { 'kubesonic.test/pace': String(n) } } };
  await core.patchNode({ name: PACER, body }, mergePatch);
  await core.patchNamespacedPod({ name: PACER, namespace: 'default', body }, mergePatch);
}

beforeAll(async () => {
  await admin.core.createNode({ body: { metadata: { name: PACER } } }).catch(ignoreConflict);
  // Never scheduled (no such scheduler), never run: an object that changes, nothing more.
  await admin.core
    .createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: PACER },
        spec: { schedulerName: 'kubesonic-none', containers: [{ name: 'pause', image: 'localhost/kubesonic/pause:1' }] },
      },
    })
    .catch(ignoreConflict);
  let n = 0;
  pacing = setInterval(() => void pace(admin.core, ++n).catch(() => undefined), 10_000);
});

afterAll(async () => {
  clearInterval(pacing);
  await admin.core.deleteNamespacedPod({ name: PACER, namespace: 'default', gracePeriodSeconds: 0 }).catch(() => undefined);
  await admin.core.deleteNode({ name: PACER }).catch(() => undefined);
});

describe('bookmarks on the real API server', () => {
  it(
    'both watches see a bookmark within 80 s of quiet; a view with a 75 s watchdog never reconnects',
    async () => {
      const creds = await loadCredentials(kubeconfigFor('admin'), { inCluster: undefined, kubeconfigs: [] });
      const cluster = leanClusterReader(creds!);
      const node = clusterEnv().NODE_NAME;
      const started = performance.now();
      const seen: Record<'pod' | 'node', number[]> = { pod: [], node: [] };
      const handles: WatchHandle[] = [];
      const list = await cluster.listNodePods('sonic', node, 'app=kubesonic-nothing-here');
      handles.push(
        await cluster.watchNodePods(
          'sonic',
          node,
          'app=kubesonic-nothing-here',
          list.resourceVersion,
          (type) => {
            if (type === 'BOOKMARK') seen.pod.push(performance.now() - started);
          },
          () => undefined,
        ),
      );
      handles.push(
        await cluster.watchNode(
          node,
          (type) => {
            if (type === 'BOOKMARK') seen.node.push(performance.now() - started);
          },
          () => undefined,
        ),
      );
      const log: string[] = [];
      const view = new NodeView(
        cluster,
        { namespace: 'sonic', node, labelSelector: 'app=kubesonic-nothing-here' },
        () => undefined,
        (l) => log.push(l),
      );
      // 75 s: longer than one bookmark period, shorter than the 80 s window.
      const quick = new NodeView(
        cluster,
        { namespace: 'sonic', node, labelSelector: 'app=kubesonic-nothing-here' },
        () => undefined,
        (l) => log.push(`quick ${l}`),
        10_000,
        { idleMs: 75_000 },
      );
      await Promise.all([view.start(), quick.start()]);
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const fresh = view.fresh && quick.fresh;
      for (const h of handles) h.stop();
      view.stop();
      quick.stop();
      process.stderr.write(
        `[watch-bookmarks] bookmarks at (s): pod ${seen.pod.map((t) => (t / 1000).toFixed(1)).join(', ')}; node ${seen.node.map((t) => (t / 1000).toFixed(1)).join(', ')}\n`,
      );
      expect(seen.pod.length).toBeGreaterThanOrEqual(1);
      expect(seen.node.length).toBeGreaterThanOrEqual(1);
      expect(Math.max(seen.pod[0]!, seen.node[0]!)).toBeLessThan(DEFAULT_WATCH_TIMING.idleMs / 2);
      expect(log).toEqual([]);
      expect(quick.apiRequests).toBe(4); // one list and one watch per loop: no reconnect
      expect(fresh).toBe(true);
    },
    WINDOW_MS + 30_000,
  );
});

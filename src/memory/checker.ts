// Where a feature's memory figure comes from, in order; the first source with an answer wins.
//   1. kube        the feature's pod on this node: metrics.k8s.io (one request when containerd's
//                  task state names the pod, else the pod list first), else the pod's cgroup
//   2. containerd  API server unreachable: the container from containerd's local task state
//   3. docker      not migrated: the Docker container named exactly like the feature
//                  (or, without an API server, a cri-dockerd container by its labels)
// within one time budget, of which the API server gets only its share (source.ts, splitBudget).
import { dockerEngine } from '../host/docker.js';
import type { CheckerOptions } from './args.js';
import { containerdSource } from './sources/containerd.js';
import { dockerSource } from './sources/docker.js';
import { kubeSource } from './sources/kube.js';
import { SourceContext, splitBudget, type CheckOutcome, type CheckerSettings, type MemorySource } from './source.js';

export type { CheckOutcome, CheckerSettings, HostPaths, Measurement, NotRunning } from './source.js';

export const MEMORY_SOURCES: readonly MemorySource[] = [kubeSource, containerdSource, dockerSource];

export async function checkMemory(
  opts: CheckerOptions,
  settings: CheckerSettings,
  sources: readonly MemorySource[] = MEMORY_SOURCES,
): Promise<CheckOutcome> {
  const budget = splitBudget(Date.now(), opts.timeoutMs, opts.source);
  const ctx = new SourceContext(opts, settings, dockerEngine(settings.dockerSocket), budget);
  try {
    for (const source of sources) {
      if (!source.applies(ctx)) continue;
      const outcome = await source.find(ctx);
      if (outcome) return { ...outcome, apiRequests: ctx.connections.requests, tlsResumed: ctx.connections.resumed };
    }
    return { ...ctx.notRunning(), apiRequests: ctx.connections.requests, tlsResumed: ctx.connections.resumed };
  } finally {
    ctx.connections.close();
  }
}

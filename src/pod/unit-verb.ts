// `kubesonic systemd <feature> <verb>`: the unit stub's verbs dispatched, with `unit` printing the
// drop-in and `status` saying "unknown" (exit 4) when there are no credentials at all.
import type { Docker } from '../host/docker.js';
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import { dropInPath, stubDropIn } from '../systemd/unit.js';
import { errorLine } from '../util/errors.js';
import { restart, start, status, stop, waitWhileRunning, STATUS } from './verbs.js';

export const UNIT_VERBS = ['start', 'stop', 'restart', 'status', 'wait', 'unit'] as const;
export type UnitVerb = (typeof UNIT_VERBS)[number];

export interface UnitVerbPorts {
  /** Connect to the cluster (throws when there are no credentials). */
  cluster: () => Cluster;
  systemStopping: () => boolean;
}

export interface UnitVerbOptions {
  timeoutMs: number;
  unitStateDir?: string | undefined;
  docker?: Docker | undefined;
  out: (line: string) => void;
  pollMs?: number;
  /** Ends `wait` (SIGTERM from systemctl stop). */
  signal?: AbortSignal | undefined;
}

export async function runUnitVerb(verb: UnitVerb, t: FeatureTarget, ports: UnitVerbPorts, o: UnitVerbOptions): Promise<number> {
  if (verb === 'unit') {
    o.out(`# ${dropInPath(t.feature)}`);
    o.out(stubDropIn(t.feature).replace(/\n$/, ''));
    return 0;
  }
  let cluster: Cluster;
  try {
    cluster = ports.cluster();
  } catch (e) {
    if (verb !== 'status') throw e;
    o.out(`${t.feature}: status unknown: ${errorLine(e)}`);
    return STATUS.UNKNOWN;
  }
  const verbOpts = {
    timeoutMs: o.timeoutMs,
    out: o.out,
    unitStateDir: o.unitStateDir,
    docker: o.docker,
    ...(o.pollMs ? { pollMs: o.pollMs } : {}),
  };
  switch (verb) {
    case 'start':
      return start(cluster, t, verbOpts);
    case 'stop':
      return stop(cluster, t, verbOpts, ports.systemStopping());
    case 'restart':
      return restart(cluster, t, verbOpts);
    case 'status':
      return status(cluster, t, o.out);
    case 'wait':
      return waitWhileRunning(cluster, t, o.out, o.signal ? { signal: o.signal } : {});
  }
}

// `kubesonic systemd <feature> <verb>`: the unit stub's verbs dispatched, with `unit` printing the
// drop-in. No credentials is not an error for the verbs that work on the host (start, stop, restart,
// status, taint note it): the hold and the container runtime do the work.
import type { Docker } from '../host/docker.js';
import type { ContainerRuntime } from '../host/cri.js';
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import { dropInPath, stubDropIn } from '../systemd/unit.js';
import { errorLine } from '../util/errors.js';
import { followTaints, restart, start, status, stop, waitWhileRunning, type VerbOptions, type VerbPorts } from './verbs.js';

export const UNIT_VERBS = ['start', 'stop', 'restart', 'status', 'wait', 'unit', 'taint'] as const;
export type UnitVerb = (typeof UNIT_VERBS)[number];

export interface UnitVerbPorts {
  /** Connect to the cluster (throws when there are no credentials). */
  cluster: () => Cluster;
  runtime: ContainerRuntime;
  systemStopping: () => boolean;
}

export interface UnitVerbOptions {
  timeoutMs: number;
  holdDir: string;
  taintPendingDir?: string | undefined;
  unitStateDir?: string | undefined;
  docker?: Docker | undefined;
  out: (line: string) => void;
  pollMs?: number;
  apiTimeoutMs?: number;
  /** Ends `wait` (SIGTERM from systemctl stop). */
  signal?: AbortSignal | undefined;
}

export async function runUnitVerb(verb: UnitVerb, t: FeatureTarget, ports: UnitVerbPorts, o: UnitVerbOptions): Promise<number> {
  if (verb === 'unit') {
    o.out(`# ${dropInPath(t.feature)}`);
    o.out(stubDropIn(t.feature).replace(/\n$/, ''));
    return 0;
  }
  let cluster: Cluster | undefined;
  try {
    cluster = ports.cluster();
  } catch (e) {
    if (verb === 'wait') throw e;
    if (verb !== 'status') o.out(`${t.feature}: no cluster: ${errorLine(e)}`);
  }
  const verbPorts: VerbPorts = { cluster, runtime: ports.runtime };
  const { signal: _signal, ...verbOpts } = o;
  const opts: VerbOptions = verbOpts;
  switch (verb) {
    case 'start':
      return start(verbPorts, t, opts);
    case 'stop':
      return stop(verbPorts, t, opts, ports.systemStopping());
    case 'restart':
      return restart(verbPorts, t, opts);
    case 'status':
      return status(verbPorts, t, opts);
    case 'taint':
      // The taint sync (kubesonic-taints.timer): 1 while the API server still does not answer.
      return (await followTaints(verbPorts, t, opts)) ? 0 : 1;
    case 'wait':
      return waitWhileRunning(cluster!, t, o.out, o.signal ? { signal: o.signal } : {});
  }
}

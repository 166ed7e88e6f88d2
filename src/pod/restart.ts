// monit's action for a feature over its memory threshold. Native container: restart the process
// inside it as SONiC does (docker exec <f> supervisorctl restart <process>). Kubernetes: restart
// the pod on this node (the memory is then back to its start, as after the process restart).
import { spawnSync } from 'node:child_process';
import { DockerUnavailable, type Docker, type DockerContainer } from '../host/docker.js';
import type { Cluster, FeatureTarget } from '../kube/cluster.js';
import { ExitError } from '../util/errors.js';
import { restart, type VerbOptions } from './verbs.js';

export interface RestartPorts {
  docker: Docker;
  /** Connected only when the feature is not native (a native switch may have no credentials). */
  cluster: () => Cluster;
  /** `docker …` on the host; returns its exit status. */
  dockerCli?: (args: readonly string[]) => number | null;
}

const realDockerCli = (args: readonly string[]): number | null => spawnSync('docker', args, { stdio: 'inherit' }).status;

export async function restartFeature(
  t: FeatureTarget,
  processName: string | undefined,
  ports: RestartPorts,
  o: VerbOptions,
): Promise<number> {
  let native: DockerContainer | undefined;
  try {
    native = await ports.docker.nativeRunning(t.feature, Date.now() + 5000);
  } catch (e) {
    if (!(e instanceof DockerUnavailable)) throw e;
  }
  if (native) {
    const args = processName ? ['exec', t.feature, 'supervisorctl', 'restart', processName] : ['restart', t.feature];
    const status = (ports.dockerCli ?? realDockerCli)(args);
    if (status !== 0) throw new ExitError(`docker ${args.join(' ')} exited ${status}`, 1);
    return 0;
  }
  return restart(ports.cluster(), t, o);
}

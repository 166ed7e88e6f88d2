// monit's action for a feature over its memory threshold, wherever the feature runs.
//   native container: as SONiC does, `docker exec <f> supervisorctl restart <process>` (or
//                     `docker restart <f>` without --process)
//   Kubernetes:       the same `supervisorctl restart <process>` inside the running feature container
//                     (CRI exec); without --process, the container restarted in place (pod/verbs.ts
//                     restart: same pod, restartCount + 1)
import { spawnSync } from 'node:child_process';
import { DockerUnavailable, type Docker, type DockerContainer } from '../host/docker.js';
import { runningContainer } from '../host/cri.js';
import type { FeatureTarget } from '../kube/cluster.js';
import { featureContainerName } from '../kube/ids.js';
import { ExitError } from '../util/errors.js';
import { restart, type VerbOptions, type VerbPorts } from './verbs.js';

export interface RestartPorts extends VerbPorts {
  docker: Docker;
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
  if (!processName) return restart(ports, t, o);
  const c = await runningContainer(ports.runtime, t.namespace, featureContainerName(t.feature));
  if (!c) throw new ExitError(`${t.feature}: no running ${t.feature} container on this node to restart ${processName} in`, 1);
  const argv = ['supervisorctl', 'restart', processName];
  const status = await ports.runtime.exec(c.id, argv, 60);
  if (status !== 0) throw new ExitError(`${argv.join(' ')} in container ${c.id.slice(0, 12)} exited ${status}`, 1);
  o.out(`${t.feature}: ${argv.join(' ')} in container ${c.id.slice(0, 12)} of pod ${c.podName}`);
  return 0;
}

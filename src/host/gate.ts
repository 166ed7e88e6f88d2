// The pod's init step: the feature container may start only once no native Docker container of
// that name runs on the node, so the two never run together.
import { DockerUnavailable, type Docker, type DockerContainer } from './docker.js';
import { ExitError } from '../util/errors.js';
import { monotonicMs, sleep } from '../util/wait.js';

export interface GateOptions {
  feature: string;
  timeoutMs: number;
  pollMs?: number;
  out: (line: string) => void;
}

export async function runGate(docker: Docker, opts: GateOptions): Promise<void> {
  const { feature, out } = opts;
  const until = monotonicMs() + opts.timeoutMs;
  for (;;) {
    let native: DockerContainer | undefined;
    try {
      native = await docker.nativeRunning(feature, Date.now() + 5000);
    } catch (e) {
      if (e instanceof DockerUnavailable) {
        out(`gate ${feature}: no Docker on this node (${e.message}): nothing native can run`);
        return;
      }
      throw e;
    }
    if (!native) {
      out(`gate ${feature}: no native container running, the pod may start`);
      return;
    }
    if (monotonicMs() > until)
      throw new ExitError(
        `gate ${feature}: native container ${native.id.slice(0, 12)} still running after ${Math.round(opts.timeoutMs / 1000)} s`,
        1,
      );
    out(`gate ${feature}: native container ${native.id.slice(0, 12)} is running; waiting for it to stop`);
    await sleep(opts.pollMs ?? 2000);
  }
}

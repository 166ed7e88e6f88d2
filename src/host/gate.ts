// The seed's per-feature sidecar shape (sync: sidecar) keeps this init step, next to its sync
// container's own Docker mount: the feature container may start only once no native Docker
// container of that name runs on the node. The default shape has no init container and no Docker
// socket: the host-side native marker (host/hold.ts) does this work there. Only a provably absent Docker opens
// the gate without an answer; a Docker that does not answer (hung, refused, EACCES, HTTP 500) keeps
// it shut: the pod stays in Init, saying why, until Docker answers or the gate's timeout ends the
// attempt (the kubelet then runs the init container again).
import { DockerAbsent, type Docker, type DockerContainer } from './docker.js';
import { ExitError, errorLine } from '../util/errors.js';
import { monotonicMs, sleep } from '../util/wait.js';

export interface GateOptions {
  feature: string;
  timeoutMs: number;
  pollMs?: number;
  /** How long one question to Docker may take. */
  askMs?: number;
  out: (line: string) => void;
}

export async function runGate(docker: Docker, opts: GateOptions): Promise<void> {
  const { feature, out } = opts;
  const until = monotonicMs() + opts.timeoutMs;
  // Say each distinct state once, not every poll: the init container's log is what an operator reads.
  let said = '';
  const say = (line: string) => {
    if (line !== said) out(line);
    said = line;
  };
  for (;;) {
    let native: DockerContainer | undefined;
    let unknown: string | undefined;
    try {
      native = await docker.nativeRunning(feature, Date.now() + (opts.askMs ?? 5000));
    } catch (e) {
      if (e instanceof DockerAbsent) {
        out(`gate ${feature}: no Docker on this node (${e.message}): nothing native can run`);
        return;
      }
      unknown = errorLine(e);
    }
    if (unknown === undefined && !native) {
      out(`gate ${feature}: no native container running, the pod may start`);
      return;
    }
    const why = native
      ? `native container ${native.id.slice(0, 12)} is running; waiting for it to stop`
      : `cannot tell whether a native container runs (${unknown}); waiting for Docker to answer`;
    if (monotonicMs() > until)
      throw new ExitError(
        native
          ? `gate ${feature}: native container ${native.id.slice(0, 12)} still running after ${Math.round(opts.timeoutMs / 1000)} s`
          : `gate ${feature}: Docker gave no answer for ${Math.round(opts.timeoutMs / 1000)} s (${unknown}); the pod stays shut`,
        1,
      );
    say(`gate ${feature}: ${why}`);
    await sleep(opts.pollMs ?? 2000);
  }
}

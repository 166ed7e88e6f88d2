// The container runtime (CRI) of the fake switch: a view of FakeCluster's pods on one node, as crictl
// shows the kubelet's containers. stop() is followed at once by the kubelet's restart (next attempt,
// same pod); it works while the fake API server is down, as the real runtime does.
import { containerIdOf } from '../../src/kube/ids.js';
import { RuntimeUnavailable, type ContainerRuntime, type CriContainer } from '../../src/host/cri.js';
import type { FakeCluster } from './cluster.js';

export class FakeRuntime implements ContainerRuntime {
  /** crictl missing or containerd not answering. */
  unavailable = false;
  /** Every call, in order ("stop 4e3b…", "exec 4e3b… supervisorctl restart openbmpd"). */
  readonly calls: string[] = [];
  /** What exec returns. */
  execStatus = 0;
  /** The kubelet restarts a stopped container (false: it stays exited, as in a crash-loop back-off). */
  kubeletRestarts = true;

  constructor(
    private readonly cluster: FakeCluster,
    private readonly node: string,
  ) {}

  private check(): void {
    if (this.unavailable) throw new RuntimeUnavailable('container runtime at unix:///run/containerd/containerd.sock: connection refused');
  }

  async containers(namespace: string, name: string): Promise<CriContainer[]> {
    this.check();
    const out: CriContainer[] = [];
    for (const p of this.cluster.pods.values()) {
      if (p.spec?.nodeName !== this.node || p.metadata?.namespace !== namespace) continue;
      const cs = p.status?.containerStatuses?.find((c) => c.name === name);
      if (!cs?.containerID) continue;
      out.push({
        id: containerIdOf(cs.containerID),
        name,
        podUid: p.metadata!.uid!,
        podName: p.metadata!.name!,
        namespace,
        attempt: cs.restartCount ?? 0,
        running: Boolean(cs.state?.running),
        image: cs.image ?? '',
      });
    }
    return out;
  }

  async stop(id: string): Promise<void> {
    this.check();
    this.calls.push(`stop ${id}`);
    for (const p of this.cluster.pods.values()) {
      const cs = p.status?.containerStatuses?.[0];
      if (!cs?.containerID || containerIdOf(cs.containerID) !== id) continue;
      if (this.kubeletRestarts) this.cluster.restartContainer(p.metadata!.uid!);
      else cs.state = { terminated: { exitCode: 137, reason: 'Error' } };
    }
  }

  async exec(id: string, argv: readonly string[]): Promise<number> {
    this.check();
    this.calls.push(`exec ${id} ${argv.join(' ')}`);
    return this.execStatus;
  }
}

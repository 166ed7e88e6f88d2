// An in-memory Docker (src/host/docker.ts): containers by name, and the ways Docker fails — provably
// absent (no socket), or there but without a usable answer: refused, an HTTP error, or hanging
// until the caller's deadline.
import { randomBytes } from 'node:crypto';
import { DockerAbsent, DockerFault, type Docker, type DockerContainer } from '../../src/host/docker.js';

export type DockerFaultKind = 'absent' | 'refused' | 'error' | 'hang';

interface FakeContainer extends DockerContainer {
  running: boolean;
  pid: number;
}

export class FakeDocker implements Docker {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  fault: DockerFaultKind | undefined;
  onChange: () => void = () => undefined;

  run(name: string, labels: Record<string, string> = {}): FakeContainer {
    const existing = this.containers.get(name);
    if (existing) existing.running = true;
    const c = existing ?? { id: randomBytes(32).toString('hex'), names: [name], labels, running: true, pid: 1000 + this.containers.size };
    this.containers.set(name, c);
    this.onChange();
    return c;
  }

  halt(name: string): void {
    const c = this.containers.get(name);
    if (c) c.running = false;
    this.onChange();
  }

  isRunning(name: string): boolean {
    return this.containers.get(name)?.running === true;
  }

  private async reachable(what: string, deadline = Date.now() + 5000): Promise<void> {
    this.calls.push(what);
    await Promise.resolve();
    switch (this.fault) {
      case 'absent':
        throw new DockerAbsent('docker API /var/run/docker.sock: no such socket');
      case 'refused':
        throw new DockerFault('docker API /var/run/docker.sock: ECONNREFUSED');
      case 'error':
        throw new DockerFault('docker API list: HTTP 500');
      case 'hang':
        await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
        throw new DockerFault('docker API /var/run/docker.sock: GET /containers/json timed out');
    }
  }

  async listRunning(deadline?: number): Promise<DockerContainer[]> {
    await this.reachable('list', deadline);
    return [...this.containers.values()].filter((c) => c.running);
  }

  async inspectPid(id: string, deadline?: number): Promise<number | undefined> {
    await this.reachable(`inspect ${id.slice(0, 12)}`, deadline);
    const c = [...this.containers.values()].find((x) => x.id === id);
    return c?.running ? c.pid : undefined;
  }

  async nativeRunning(name: string, deadline?: number): Promise<DockerContainer | undefined> {
    await this.reachable(`nativeRunning ${name}`, deadline);
    const c = this.containers.get(name);
    return c?.running && c.labels['io.kubernetes.pod.namespace'] === undefined ? c : undefined;
  }

  async stop(id: string, _grace?: number, deadline?: number): Promise<void> {
    await this.reachable(`stop ${id.slice(0, 12)}`, deadline);
    for (const c of this.containers.values()) if (c.id === id) c.running = false;
    this.onChange();
  }

  async removeNative(name: string, deadline?: number): Promise<boolean> {
    await this.reachable(`removeNative ${name}`, deadline);
    const c = this.containers.get(name);
    if (!c || c.labels['io.kubernetes.pod.namespace'] !== undefined) return false;
    this.containers.delete(name);
    this.onChange();
    return true;
  }
}

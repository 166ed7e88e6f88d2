// An in-memory Docker (src/host/docker.ts): containers by name, and the two ways Docker fails —
// nothing answering on the socket, or a daemon that answers with an error.
import { randomBytes } from 'node:crypto';
import { DockerUnavailable, type Docker, type DockerContainer } from '../../src/host/docker.js';

interface FakeContainer extends DockerContainer {
  running: boolean;
  pid: number;
}

export class FakeDocker implements Docker {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  fault: 'unavailable' | 'error' | undefined;
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

  private async reachable(what: string): Promise<void> {
    this.calls.push(what);
    await Promise.resolve();
    if (this.fault === 'unavailable') throw new DockerUnavailable('docker API: ECONNREFUSED');
    if (this.fault === 'error') throw new Error('docker API list: HTTP 500');
  }

  async listRunning(): Promise<DockerContainer[]> {
    await this.reachable('list');
    return [...this.containers.values()].filter((c) => c.running);
  }

  async inspectPid(id: string): Promise<number | undefined> {
    await this.reachable(`inspect ${id.slice(0, 12)}`);
    const c = [...this.containers.values()].find((x) => x.id === id);
    return c?.running ? c.pid : undefined;
  }

  async nativeRunning(name: string): Promise<DockerContainer | undefined> {
    await this.reachable(`nativeRunning ${name}`);
    const c = this.containers.get(name);
    return c?.running && c.labels['io.kubernetes.pod.namespace'] === undefined ? c : undefined;
  }

  async stop(id: string): Promise<void> {
    await this.reachable(`stop ${id.slice(0, 12)}`);
    for (const c of this.containers.values()) if (c.id === id) c.running = false;
    this.onChange();
  }

  async removeNative(name: string): Promise<boolean> {
    await this.reachable(`removeNative ${name}`);
    const c = this.containers.get(name);
    if (!c || c.labels['io.kubernetes.pod.namespace'] !== undefined) return false;
    this.containers.delete(name);
    this.onChange();
    return true;
  }
}

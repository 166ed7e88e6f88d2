import { copyFileSync, chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);
const [POD_UID, KUBE_ID, DOCKER_ID] = readFileSync(fixture('cgroup', 'IDS'), 'utf8').trim().split(/\s+/) as [string, string, string];
export { POD_UID, KUBE_ID, DOCKER_ID };
export const readJson = (...parts: string[]): Record<string, unknown> => JSON.parse(readFileSync(fixture(...parts), 'utf8'));

/**
 * A fixture credential file as the tools accept it (mode 0600): git keeps only the executable bit,
 * so a checked-out kubeconfig is 0644, which kube/kubeconfig.ts refuses.
 */
export function privateFixture(...parts: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kubesonic-fixture-')), parts.at(-1)!);
  copyFileSync(fixture(...parts), path);
  chmodSync(path, 0o600);
  return path;
}

/**
 * memory_checker's settings on the fixture switch: the bmp container of fixtures/cgroup/v2-systemd,
 * found through containerd's state; no Docker; no API server unless `kubeconfigs` names one.
 */
export function fixtureCheckerSettings(kubeconfigs: string[] = []) {
  return {
    cgroupRoot: fixture('cgroup', 'v2-systemd'),
    procRoot: fixture('proc'),
    containerdState: fixture('containerd'),
    dockerSocket: '/nonexistent/docker.sock',
    api: { inCluster: undefined, kubeconfigs },
    nodeName: 'vm',
  };
}

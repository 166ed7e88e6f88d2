// A self-started dockerd on its own socket and data root, as SONiC runs its native containers.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { featureImage, FEATURE_REF } from '../../testbed/image.js';
import { TEST_ROOT, mustRun, run, startDaemon, waitFor, type Daemon } from './procs.js';

export interface Dockerd {
  socket: string;
  host: string;
  daemon: Daemon;
  docker(...args: string[]): string;
  stop(): Promise<void>;
}

export async function startDockerd(binDir: string): Promise<Dockerd> {
  const root = join(TEST_ROOT, 'docker');
  const socket = join(root, 'docker.sock');
  mkdirSync(root, { recursive: true });
  rmSync(socket, { recursive: true, force: true }); // stale socket (or a directory a hostPath volume made)
  const daemon = startDaemon(
    'dockerd',
    'dockerd',
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--userland-proxy=false',
      `--data-root=${join(root, 'data')}`,
      '--exec-root=/run/kubesonic-docker',
      `--pidfile=${join(root, 'dockerd.pid')}`,
      `--host=unix://${socket}`,
    ],
    { logDir: TEST_ROOT },
  );
  const host = `unix://${socket}`;
  const docker = (...args: string[]) => mustRun('docker', ['-H', host, ...args]);
  await waitFor('dockerd', () => run('docker', ['-H', host, 'version']).code === 0, 60_000);
  // Loaded every time: the tag is fixed while the image's contents follow the sources.
  const archive = join(root, 'feature-image.tar');
  writeFileSync(archive, featureImage(binDir));
  docker('load', '-i', archive);
  return {
    socket,
    host,
    daemon,
    docker,
    async stop() {
      run('docker', ['-H', host, 'rm', '-f', ...run('docker', ['-H', host, 'ps', '-aq']).stdout.split('\n').filter(Boolean)]);
      await daemon.stop();
      // dockerd bind-mounts its data root onto itself and leaves the mount behind.
      run('umount', [join(root, 'data')]);
    },
  };
}

/** A native feature container, as /usr/bin/<feature>.sh would create it (no network of its own). */
export function runFeatureContainer(d: Dockerd, name: string, daemonName: string, mib: number): string {
  run('docker', ['-H', d.host, 'rm', '-f', name]);
  return d
    .docker(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'none',
      '-e',
      `MEMHOG_MIB=${mib}`,
      '-e',
      'MEMHOG_CONTROL=/tmp/alloc_mib',
      '--entrypoint',
      `/usr/bin/${daemonName}`,
      FEATURE_REF,
    )
    .trim();
}

export function setFeatureMemory(d: Dockerd, name: string, mib: number): void {
  d.docker('exec', name, 'sh', '-c', `echo ${mib} > /tmp/alloc_mib`);
}

// Builds docker-archive image tarballs from local files (no registry, no docker build):
// loadable with `docker load` and `ctr -n k8s.io images import`.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { sha256, tar, type TarEntry } from './tar.js';

export interface ImageSpec {
  ref: string;
  entries: TarEntry[];
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
}

export function dockerArchive(spec: ImageSpec): Buffer {
  const layer = tar(spec.entries);
  const diffId = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Entrypoint: spec.entrypoint,
        Cmd: spec.cmd ?? null,
        Env: spec.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'],
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created_by: 'kubesonic testbed' }],
    }),
  );
  const configName = `${sha256(config)}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [spec.ref], Layers: [`${diffId}/layer.tar`] }]));
  return tar([
    { type: 'file', path: configName, data: config },
    { type: 'dir', path: diffId },
    { type: 'file', path: `${diffId}/layer.tar`, data: layer },
    { type: 'file', path: 'manifest.json', data: manifest },
  ]);
}

export const PAUSE_REF = 'localhost/kubesonic/pause:1';
export const FEATURE_REF = 'localhost/kubesonic/feature:1';

/** The pod sandbox image: one static binary. */
export function pauseImage(binDir: string): Buffer {
  return dockerArchive({
    ref: PAUSE_REF,
    entries: [{ type: 'file', path: 'pause', data: readFileSync(`${binDir}/pause`), mode: 0o755 }],
    entrypoint: ['/pause'],
  });
}

const BUSYBOX_APPLETS = ['sh', 'pidof', 'sleep', 'cat', 'echo', 'ls', 'ps', 'kill', 'mkdir', 'rm', 'true', 'false', 'test', 'env'];

/**
 * A stand-in for a SONiC feature image: busybox for probes (pgrep) and shells, and memhog installed
 * under each feature daemon's name, so `pgrep openbmpd` finds the process.
 */
export function featureImage(binDir: string, busybox = '/bin/busybox'): Buffer {
  const memhog = readFileSync(`${binDir}/memhog`);
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'dir', path: 'usr' },
    { type: 'dir', path: 'usr/bin' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'run' },
    { type: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    // Debian's static busybox has no pgrep applet; the probes only need its exit status.
    { type: 'file', path: 'usr/bin/pgrep', data: Buffer.from('#!/bin/sh\nexec pidof "$1" >/dev/null\n'), mode: 0o755 },
  ];
  for (const daemon of ['openbmpd', 'telemetry', 'gnmi', 'snmpd', 'memhog']) {
    entries.push({ type: 'file', path: `usr/bin/${daemon}`, data: memhog, mode: 0o755 });
  }
  return dockerArchive({ ref: FEATURE_REF, entries, entrypoint: ['/usr/bin/memhog'] });
}

export const SIDECAR_REF = 'localhost/kubesonic/sidecar:1';

/** Shared libraries a dynamically linked binary needs, as ldd reports them. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((m) => m[1]!).filter((p, i, all) => all.indexOf(p) === i);
}

/**
 * The sidecar/exporter image as the Dockerfile lays it out (node + /opt/kubesonic/kubesonic.mjs),
 * assembled from this machine's node binary since no base image can be pulled here.
 */
export function sidecarImage(kubesonicBundle: string, busybox = '/bin/busybox', node = process.execPath): Buffer {
  const entries: TarEntry[] = [];
  const dirs = new Set<string>();
  const addDirs = (path: string) => {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (d && !dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: 'dir', path: d });
      }
    }
  };
  const addFile = (path: string, data: Buffer, mode: number) => {
    addDirs(path);
    entries.push({ type: 'file', path, data, mode });
  };
  for (const lib of sharedLibraries(node)) addFile(lib.replace(/^\//, ''), readFileSync(lib), 0o755);
  addFile('usr/bin/node', readFileSync(node), 0o755);
  addFile('bin/busybox', readFileSync(busybox), 0o755);
  for (const a of ['sh', 'test', 'cat', 'ls', 'sleep']) entries.push({ type: 'symlink', path: `bin/${a}`, target: 'busybox' });
  addFile('opt/kubesonic/kubesonic.mjs', readFileSync(kubesonicBundle), 0o644);
  // The node agent's lean bundle sits next to the CLI's (scripts/bundle.mjs builds both).
  addFile('opt/kubesonic/kubesonic-agent.mjs', readFileSync(kubesonicBundle.replace(/kubesonic\.mjs$/, 'kubesonic-agent.mjs')), 0o644);
  entries.push({ type: 'dir', path: 'tmp', mode: 0o1777 });
  return dockerArchive({
    ref: SIDECAR_REF,
    entries,
    entrypoint: ['/usr/bin/node', '/opt/kubesonic/kubesonic.mjs'],
    env: ['PATH=/usr/bin:/bin', 'NODE_ENV=production'],
  });
}

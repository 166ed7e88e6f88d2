// Builds docker-archive image tarballs from local files (no registry, no docker build):
// loadable with `docker load` and `ctr -n k8s.io images import`.
import { readFileSync } from 'node:fs';
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
      config: { Entrypoint: spec.entrypoint, Cmd: spec.cmd ?? null, Env: spec.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'] },
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

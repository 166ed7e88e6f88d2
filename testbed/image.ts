// Builds docker-archive image tarballs from local files (no registry, no docker build):
// loadable with `docker load` and `ctr -n k8s.io images import`.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { sha256, tar, type TarEntry } from './tar.js';

export interface ImageSpec {
  ref: string;
  entries: TarEntry[];
  /** Layers below `entries`, already tarred (e.g. a Debian root from packaging/debian-root.sh). */
  baseLayers?: Buffer[];
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
  user?: string;
}

/**
 * A docker-archive tarball. Reproducible: no timestamps in the config, fixed mtimes and order in
 * the tar writer, so the same inputs give the same bytes (and image digest).
 */
export function dockerArchive(spec: ImageSpec): Buffer {
  const layers = [...(spec.baseLayers ?? []), tar(spec.entries)];
  const diffIds = layers.map((l) => sha256(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        ...(spec.user ? { User: spec.user } : {}),
        Entrypoint: spec.entrypoint,
        Cmd: spec.cmd ?? null,
        Env: spec.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'],
      },
      rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
      history: layers.map(() => ({ created_by: 'kubesonic testbed' })),
    }),
  );
  const configName = `${sha256(config)}.json`;
  const manifest = Buffer.from(
    JSON.stringify([{ Config: configName, RepoTags: [spec.ref], Layers: diffIds.map((d) => `${d}/layer.tar`) }]),
  );
  return tar([
    { type: 'file', path: configName, data: config },
    ...diffIds.flatMap((d, i): TarEntry[] => [
      { type: 'dir', path: d },
      { type: 'file', path: `${d}/layer.tar`, data: layers[i]! },
    ]),
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

export const SUPERVISED_REF = 'localhost/kubesonic/feature-supervisord:1';
/** Debian packages of the supervised feature image's base: supervisord (SONiC's images run it first) and pgrep for the probes. */
export const SUPERVISED_PACKAGES = ['supervisor', 'procps'] as const;

/**
 * A feature image shaped like SONiC's: Debian's own supervisord as the first process, running the
 * feature's daemon (memhog as openbmpd) as a program, so `supervisorctl restart openbmpd` restarts
 * the process and not the container. Base: a Debian root with `supervisor` (packaging/debian-root.sh).
 */
export function supervisedFeatureImage(binDir: string, debianRoot: Buffer): Buffer {
  const program =
    '[program:openbmpd]\ncommand=/usr/bin/openbmpd\nautorestart=true\nstartsecs=0\nstdout_logfile=/dev/null\nstderr_logfile=/dev/null\n';
  return dockerArchive({
    ref: SUPERVISED_REF,
    baseLayers: [debianRoot],
    entries: [
      { type: 'dir', path: 'usr' },
      { type: 'dir', path: 'usr/bin' },
      { type: 'file', path: 'usr/bin/openbmpd', data: readFileSync(`${binDir}/memhog`), mode: 0o755 },
      { type: 'dir', path: 'etc' },
      { type: 'dir', path: 'etc/supervisor' },
      { type: 'dir', path: 'etc/supervisor/conf.d' },
      { type: 'file', path: 'etc/supervisor/conf.d/openbmpd.conf', data: Buffer.from(program), mode: 0o644 },
    ],
    entrypoint: ['/usr/bin/supervisord', '-n', '-c', '/etc/supervisor/supervisord.conf'],
  });
}

export const SIDECAR_REF = 'localhost/kubesonic/sidecar:1';

/**
 * What the sidecar/exporter image is, whichever way it is built: here from Debian packages, or by
 * the Dockerfile with a registry (test/unit/image-recipe.test.ts holds the two to the same values).
 */
export const SIDECAR_RECIPE = {
  /** Debian suite of the base: its own nodejs (trixie: 20.19, supported by Debian for trixie's life). */
  suite: 'trixie',
  packages: ['nodejs'],
  entrypoint: ['/usr/bin/node', '/opt/kubesonic/kubesonic.mjs'],
  cmd: ['--help'],
  /** nobody:nogroup, by number so it needs no passwd entry; the sync sidecar and the sidecar shape's gate run as 0 (render). */
  user: '65534:65534',
  env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
  dir: '/opt/kubesonic',
} as const;

/** Every bundle in dist/ the image ships: all *.mjs but the testbed's own (new CLIs need no edit here). */
export function shippedBundles(distDir: string): string[] {
  return readdirSync(distDir)
    .filter((f) => f.endsWith('.mjs') && f !== 'testbed.mjs')
    .sort();
}

/**
 * The sidecar/exporter image from Debian packages: a minbase Debian root with Debian's nodejs
 * (packaging/debian-root.sh, reproducible and cached), plus one layer with the bundles under
 * /opt/kubesonic. No registry, no base image pulled, nothing from this machine's own Node.
 */
export function sidecarImage(distDir: string, debianRoot: Buffer): Buffer {
  const entries: TarEntry[] = [
    { type: 'dir', path: 'opt' },
    { type: 'dir', path: 'opt/kubesonic' },
    ...shippedBundles(distDir).map(
      (f): TarEntry => ({ type: 'file', path: `opt/kubesonic/${f}`, data: readFileSync(join(distDir, f)), mode: 0o755 }),
    ),
  ];
  return dockerArchive({
    ref: SIDECAR_REF,
    baseLayers: [debianRoot],
    entries,
    entrypoint: [...SIDECAR_RECIPE.entrypoint],
    cmd: [...SIDECAR_RECIPE.cmd],
    user: SIDECAR_RECIPE.user,
    env: [...SIDECAR_RECIPE.env],
  });
}

/** The cached Debian root of the recipe (built on first use: needs Debian's mirror, so run it outside the test netns). */
export function debianRootTarball(repo: string, packages: readonly string[] = SIDECAR_RECIPE.packages): string {
  const script = join(repo, 'packaging', 'debian-root.sh');
  return execFileSync('bash', [script, SIDECAR_RECIPE.suite, ...packages], { encoding: 'utf8' }).trim();
}

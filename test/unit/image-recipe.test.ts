// The sidecar image two ways: the Dockerfile (for people with a registry) and testbed/image.ts (built
// here from Debian packages, what the system tests run). They must describe the same image, and the
// local build must be reproducible: the same inputs give the same bytes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIDECAR_RECIPE, shippedBundles, sidecarImage } from '../../testbed/image.js';
import { sha256, tar } from '../../testbed/tar.js';

/** Entries of a ustar archive (what testbed/tar.ts writes): name → contents. */
function untar(archive: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let at = 0; at + 512 <= archive.length; ) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const field = (o: number, n: number) =>
      h
        .subarray(o, o + n)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const name = [field(345, 155), field(0, 100)].filter(Boolean).join('/');
    const size = Number.parseInt(field(124, 12), 8);
    out.set(name, archive.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The last stage of the Dockerfile, instruction → arguments (continuation lines joined). */
function finalStage(): { from: string; lines: string[] } {
  const text = readFileSync(resolve(__dirname, '../../Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const start = lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true);
  return { from: lines[start]!.slice(5).trim(), lines: lines.slice(start + 1) };
}
const instruction = (lines: string[], name: string) =>
  lines.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

function build(dist: string) {
  const base = tar([{ type: 'file', path: 'usr/bin/node', data: Buffer.from('stand-in for the Debian root'), mode: 0o755 }]);
  return sidecarImage(dist, base);
}

function distDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-dist-'));
  for (const f of ['kubesonic.mjs', 'memory_checker.mjs', 'kubesonic-agent.mjs', 'testbed.mjs', 'kubesonic.meta.json'])
    writeFileSync(join(dir, f), `// ${f}\n`);
  return dir;
}

describe('the sidecar image', () => {
  const dist = distDir();
  const archive = untar(build(dist));
  const manifest = JSON.parse(archive.get('manifest.json')!.toString()) as [{ Config: string; Layers: string[] }];
  const config = JSON.parse(archive.get(manifest[0].Config)!.toString()) as { config: Record<string, unknown> };
  const top = untar(archive.get(manifest[0].Layers.at(-1)!)!);
  const docker = finalStage();

  it('ships every bundle but the testbed one under /opt/kubesonic, nothing else in its own layer', () => {
    expect(shippedBundles(dist)).toEqual(['kubesonic-agent.mjs', 'kubesonic.mjs', 'memory_checker.mjs']);
    expect([...top.keys()].filter((p) => !p.endsWith('/'))).toEqual(shippedBundles(dist).map((f) => `opt/kubesonic/${f}`));
    expect(manifest[0].Layers).toHaveLength(2); // the Debian root, then the bundles
  });

  it('has the entrypoint, command, user and environment the Dockerfile gives', () => {
    expect(config.config).toEqual({
      Entrypoint: JSON.parse(instruction(docker.lines, 'ENTRYPOINT')[0]!),
      Cmd: JSON.parse(instruction(docker.lines, 'CMD')[0]!),
      User: instruction(docker.lines, 'USER')[0],
      Env: instruction(docker.lines, 'ENV')[0]!.split(/\s+/),
    });
  });

  it("is based on the same Debian suite and Debian's own nodejs", () => {
    expect(docker.from).toBe(`debian:${SIDECAR_RECIPE.suite}-slim`);
    const install = docker.lines.find((l) => l.includes('apt-get install'))!;
    for (const p of SIDECAR_RECIPE.packages) expect(install.split(/\s+/)).toContain(p);
    expect(instruction(docker.lines, 'COPY')).toEqual([`--from=build --chmod=0755 /out/ ${SIDECAR_RECIPE.dir}/`]);
    expect(readFileSync(resolve(__dirname, '../../Dockerfile'), 'utf8')).toMatch(/cp dist\/\*\.mjs \/out\/ && rm \/out\/testbed\.mjs/);
  });

  it('is reproducible: two builds, the same digest', () => {
    expect(sha256(build(dist))).toBe(sha256(build(dist)));
    expect(sha256(build(distDir()))).toBe(sha256(build(dist)));
  });
});

// The feature container's command and probes as rendered (manifest/render.ts holdWrapped), run by the
// real /bin/sh over a hold directory: while the hold file or the native marker (<f>.native) exists
// nothing of the feature runs; once both are gone the feature's command replaces the shell; a
// liveness probe passes while either exists.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFeatureSpec } from '../../src/manifest/spec.js';
import { holdWrapped, renderFeature } from '../../src/manifest/render.js';
import { HOLD_MOUNT } from '../../src/sonic/paths.js';
import { sleep, waitUntil } from '../../src/util/wait.js';

/** The rendered argv with the container's hold mount pointed at a directory of the test. */
const inDir = (argv: readonly string[], dir: string) => argv.map((a) => a.replaceAll(HOLD_MOUNT, dir));

function container(dir: string) {
  // The "daemon": says it started, then its own pid (exec keeps the shell's pid), then lives on.
  const argv = inDir(holdWrapped('bmp', ['/bin/sh', '-c', 'echo started $$; exec sleep 30']), dir);
  const child = spawn(argv[0]!, argv.slice(1));
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
}

describe('the host-side hold in the feature container (real /bin/sh)', () => {
  it('held: waits and says why, runs nothing of the feature; released: the feature replaces the shell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-hold-'));
    writeFileSync(join(dir, 'bmp'), 'stopped by its unit\n');
    const c = container(dir);
    try {
      await sleep(1500);
      expect(c.output()).toBe('kubesonic: bmp is stopped by its unit on this switch; waiting for systemctl start bmp\n');
      rmSync(join(dir, 'bmp'));
      await waitUntil('the feature to start', 3000, async () => (c.output().includes('started') ? true : undefined), 50);
      // exec: the feature runs as the container's first process (signals reach it), not as a child.
      expect(c.output()).toContain(`started ${c.child.pid}`);
    } finally {
      c.child.kill('SIGKILL');
    }
  });

  it('natively marked: waits and says why once; the hold and the marker each keep it waiting; both gone: the feature runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-hold-'));
    writeFileSync(join(dir, 'bmp.native'), 'a native container may run\n');
    const c = container(dir);
    try {
      await sleep(1500);
      expect(c.output()).toBe('kubesonic: a native bmp container may run on this switch; waiting until the host side finds none\n');
      // The unit stops it meanwhile: the hold's line, then the marker alone again.
      writeFileSync(join(dir, 'bmp'), 'stopped by its unit\n');
      await sleep(1500);
      rmSync(join(dir, 'bmp'));
      await sleep(1500);
      expect(c.output()).toBe(
        [
          'kubesonic: a native bmp container may run on this switch; waiting until the host side finds none',
          'kubesonic: bmp is stopped by its unit on this switch; waiting for systemctl start bmp',
          'kubesonic: a native bmp container may run on this switch; waiting until the host side finds none',
          '',
        ].join('\n'),
      );
      rmSync(join(dir, 'bmp.native'));
      await waitUntil('the feature to start', 3000, async () => (c.output().includes('started') ? true : undefined), 50);
      expect(c.output()).toContain(`started ${c.child.pid}`);
    } finally {
      c.child.kill('SIGKILL');
    }
  });

  it('not held: the feature starts at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-hold-'));
    const c = container(dir);
    try {
      await waitUntil('the feature to start', 1000, async () => (c.output().includes('started') ? true : undefined), 20);
      expect(c.output()).toBe(`started ${c.child.pid}\n`);
    } finally {
      c.child.kill('SIGKILL');
    }
  });

  it("the rendered liveness probe passes while held and is the spec's own otherwise", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonic-hold-'));
    const spec = parseFeatureSpec('feature: bmp\nimage: x\ncommand: [/x]\nprobes: { liveness: { exec: [/bin/false] } }\n');
    const ds = renderFeature(spec).find((o) => o.kind === 'DaemonSet') as {
      spec: { template: { spec: { containers: { livenessProbe: { exec: { command: string[] } } }[] } } };
    };
    const probe = inDir(ds.spec.template.spec.containers[0]!.livenessProbe.exec.command, dir);
    expect(spawnSync(probe[0]!, probe.slice(1)).status).toBe(1);
    writeFileSync(join(dir, 'bmp'), '');
    expect(spawnSync(probe[0]!, probe.slice(1)).status).toBe(0);
    rmSync(join(dir, 'bmp'));
    writeFileSync(join(dir, 'bmp.native'), '');
    expect(spawnSync(probe[0]!, probe.slice(1)).status).toBe(0);
    rmSync(join(dir, 'bmp.native'));
    expect(spawnSync(probe[0]!, probe.slice(1)).status).toBe(1);
  });
});

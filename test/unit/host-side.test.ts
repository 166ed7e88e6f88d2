// The syncer's host pass (reconcileHost in src/feature/agent.ts) for each migration version: the
// unit's drop-in only. It has no Docker: v2's clean-up is the host verbs' (pod-verbs.test.ts).
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconcileHost } from '../../src/feature/agent.js';
import { RELOAD_REQUEST } from '../../src/sonic/paths.js';
import { dropInPath, stubDropIn } from '../../src/systemd/unit.js';

describe('the host pass of the agent, per migration version', () => {
  /** A host root where the feature's drop-in directory is mounted, as the pod has it. */
  const mountedRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    mkdirSync(dirname(join(root, dropInPath('bmp'))), { recursive: true });
    return root;
  };
  const pass = (version: 'v0' | 'v1' | 'v2', root: string, log: string[]) => reconcileHost('bmp', version, root, (l) => log.push(l));

  it.each(['v1', 'v2'] as const)('%s: the stub drop-in and a reload request', (version) => {
    const root = mountedRoot();
    const log: string[] = [];
    pass(version, root, log);
    expect(readFileSync(join(root, dropInPath('bmp')), 'utf8')).toBe(stubDropIn('bmp'));
    expect(existsSync(join(root, RELOAD_REQUEST))).toBe(true);
    expect(log).toEqual([`[host bmp] ${version}: updated ${dropInPath('bmp')}; requesting daemon-reload`]);
    // A second pass changes nothing and asks for no reload.
    const again: string[] = [];
    pass(version, root, again);
    expect(again).toEqual([]);
  });

  it('v0: removes the drop-in so the image unit runs the native container again', () => {
    const root = mountedRoot();
    pass('v1', root, []);
    const log: string[] = [];
    pass('v0', root, log);
    expect(existsSync(join(root, dropInPath('bmp')))).toBe(false);
    expect(log).toEqual([`[host bmp] v0: updated ${dropInPath('bmp')}; requesting daemon-reload`]);
  });

  it('a drop-in directory that is not mounted is left alone (the pod sees no other unit)', () => {
    const root = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    const log: string[] = [];
    pass('v1', root, log);
    expect(existsSync(join(root, dropInPath('bmp')))).toBe(false);
    expect(log).toEqual([`[host bmp] ${join(root, '/etc/systemd/system/bmp.service.d')} is not mounted here: leaving the unit alone`]);
  });
});

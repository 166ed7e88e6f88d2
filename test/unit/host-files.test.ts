import { mkdtempSync, mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyHostFiles } from '../../src/host/files.js';
import { dropInPath, hostPlan, stubDropIn } from '../../src/systemd/unit.js';
import { runSteps, type Step } from '../../src/migrate/steps.js';
import { parseFeatureArg } from '../../src/exporter/exporter.js';

const root = () => mkdtempSync(join(tmpdir(), 'kubesonic-host-'));

describe('host files per migration version', () => {
  it('v1 installs the drop-in and the shared reload units; rerun changes nothing', () => {
    const r = root();
    const first = applyHostFiles(hostPlan('bmp', 'v1'), r);
    expect(first.changed).toEqual([
      '/etc/systemd/system/kubesonic-reload.path',
      '/etc/systemd/system/kubesonic-reload.service',
      '/etc/systemd/system/kubesonic-taints.timer',
      '/etc/systemd/system/kubesonic-taints.service',
      '/etc/sonic/kubesonic/unit-wait.sh',
      dropInPath('bmp'),
    ]);
    expect(readFileSync(join(r, dropInPath('bmp')), 'utf8')).toBe(stubDropIn('bmp'));
    expect(applyHostFiles(hostPlan('bmp', 'v1'), r).changed).toEqual([]);
  });

  it('backs up a file kubesonic did not write before replacing it, and leaves no temp files', () => {
    const r = root();
    mkdirSync(join(r, '/etc/systemd/system/bmp.service.d'), { recursive: true });
    writeFileSync(join(r, dropInPath('bmp')), '[Service]\nEnvironment=MINE=1\n');
    const res = applyHostFiles(hostPlan('bmp', 'v1'), r, '/etc/sonic/kubesonic/backup', new Date('2026-11-27T10:00:00Z'));
    expect(res.backups).toHaveLength(1);
    expect(readFileSync(res.backups[0]!, 'utf8')).toBe('[Service]\nEnvironment=MINE=1\n');
    expect(res.backups[0]).toContain(
      '/etc/sonic/kubesonic/backup/etc__systemd__system__bmp.service.d__90-kubesonic.conf.2026-11-27T10-00-00-000Z',
    );
    expect(readdirSync(join(r, '/etc/systemd/system/bmp.service.d'))).toEqual(['90-kubesonic.conf']);
  });

  it('v0 removes only the feature drop-in (other features keep the shared reload units)', () => {
    const r = root();
    applyHostFiles(hostPlan('bmp', 'v1'), r);
    applyHostFiles(hostPlan('telemetry', 'v1'), r);
    const res = applyHostFiles(hostPlan('bmp', 'v0'), r);
    expect(res).toEqual({ changed: [dropInPath('bmp')], backups: [] });
    expect(existsSync(join(r, dropInPath('telemetry')))).toBe(true);
    expect(existsSync(join(r, '/etc/systemd/system/kubesonic-reload.path'))).toBe(true);
  });

  it('v0 backs up a foreign file at the drop-in path before removing it', () => {
    const r = root();
    mkdirSync(join(r, '/etc/systemd/system/bmp.service.d'), { recursive: true });
    writeFileSync(join(r, dropInPath('bmp')), 'operator');
    expect(applyHostFiles(hostPlan('bmp', 'v0'), r).backups).toHaveLength(1);
  });
});

describe('idempotent steps', () => {
  function steps(state: Set<string>, log: string[], crashAt?: string): Step[] {
    return ['a', 'b', 'c'].map((name) => ({
      name,
      describe: `do ${name}`,
      done: async () => state.has(name),
      apply: async () => {
        if (name === crashAt) throw new Error(`crash in ${name}`);
        log.push(name);
        state.add(name);
      },
    }));
  }

  it('dry run changes nothing and says what would run', async () => {
    const state = new Set(['a']);
    const lines: string[] = [];
    const r = await runSteps(steps(state, []), { dryRun: true, out: (l) => lines.push(l) });
    expect(r.map((x) => x.outcome)).toEqual(['already done', 'would run', 'would run']);
    expect(state).toEqual(new Set(['a']));
    expect(lines[1]).toBe('[2/3] b: would do b');
  });

  it('a rerun after a crash finishes the rest without redoing anything', async () => {
    const state = new Set<string>();
    const log: string[] = [];
    await expect(runSteps(steps(state, log, 'b'), { dryRun: false, out: () => undefined })).rejects.toThrow('crash in b');
    await runSteps(steps(state, log), { dryRun: false, out: () => undefined });
    expect(log).toEqual(['a', 'b', 'c']);
  });
});

describe('exporter feature arguments', () => {
  it.each([
    ['bmp', { feature: 'bmp', threshold: 838860800 }],
    ['telemetry', { feature: 'telemetry', threshold: 419430400 }],
    ['lldp=1000', { feature: 'lldp', threshold: 1000 }],
  ])('%s', (arg, expected) => expect(parseFeatureArg(arg)).toEqual(expected));
  it.each(['lldp', 'bmp=abc', 'BMP', 'bmp=0', ''])('rejects %j', (arg) => expect(() => parseFeatureArg(arg)).toThrow());
});

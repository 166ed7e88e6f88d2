// The host side of a feature pod on in-memory Docker: the gate (src/host/gate.ts) and the
// sidecar's host pass (src/feature/sidecar.ts) for each migration version.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGate } from '../../src/host/gate.js';
import { reconcileHost } from '../../src/feature/agent.js';
import { RELOAD_REQUEST } from '../../src/sonic/paths.js';
import { dropInPath, stubDropIn } from '../../src/systemd/unit.js';
import { ExitError } from '../../src/util/errors.js';
import { FakeDocker } from '../fakes/docker.js';

describe('the gate (pod init container)', () => {
  it('passes at once when no native container runs', async () => {
    const lines: string[] = [];
    await runGate(new FakeDocker(), { feature: 'bmp', timeoutMs: 1000, pollMs: 5, out: (l) => lines.push(l) });
    expect(lines).toEqual(['gate bmp: no native container running, the pod may start']);
  });

  it('waits while the native container runs, and passes once it stopped', async () => {
    const docker = new FakeDocker();
    docker.run('bmp');
    docker.run('bmp_watchdog');
    const lines: string[] = [];
    const gate = runGate(docker, { feature: 'bmp', timeoutMs: 1000, pollMs: 5, out: (l) => lines.push(l) });
    await new Promise((r) => setTimeout(r, 30));
    docker.halt('bmp');
    await gate;
    expect(lines[0]).toMatch(/^gate bmp: native container [0-9a-f]{12} is running; waiting for it to stop$/);
    expect(lines.at(-1)).toBe('gate bmp: no native container running, the pod may start');
  });

  it('gives up with exit 1 after its timeout', async () => {
    const docker = new FakeDocker();
    docker.run('bmp');
    const gate = runGate(docker, { feature: 'bmp', timeoutMs: 20, pollMs: 5, out: () => undefined });
    await expect(gate).rejects.toBeInstanceOf(ExitError);
    await expect(gate).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/still running after 0 s$/) });
  });

  it('no Docker on the node (socket path absent): nothing native can run', async () => {
    const docker = new FakeDocker();
    docker.fault = 'absent';
    const lines: string[] = [];
    await runGate(docker, { feature: 'bmp', timeoutMs: 1000, pollMs: 5, out: (l) => lines.push(l) });
    expect(lines).toEqual(['gate bmp: no Docker on this node (docker API /var/run/docker.sock: no such socket): nothing native can run']);
  });

  // Every fault but "absent" keeps the gate shut: the pod stays in Init, saying why once.
  it.each([
    ['refused', /ECONNREFUSED/],
    ['error', /HTTP 500/],
    ['hang', /timed out/],
  ] as const)('Docker %s: the gate stays shut, says why, and its attempt ends in exit 1', async (fault, why) => {
    const docker = new FakeDocker();
    docker.fault = fault;
    const lines: string[] = [];
    const gate = runGate(docker, { feature: 'bmp', timeoutMs: 120, pollMs: 5, askMs: 20, out: (l) => lines.push(l) });
    await expect(gate).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/Docker gave no answer for 0 s .*the pod stays shut$/),
    });
    expect(docker.calls.length).toBeGreaterThan(1); // it kept asking
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gate bmp: cannot tell whether a native container runs \(.*\); waiting for Docker to answer$/);
    expect(lines[0]).toMatch(why);
    expect(lines.join('\n')).not.toMatch(/may start|nothing native/);
  });

  it('a Docker fault that clears: the gate passes only once Docker answers, and not while the native one runs', async () => {
    const docker = new FakeDocker();
    docker.run('bmp');
    docker.fault = 'refused';
    const lines: string[] = [];
    let passed = false;
    const gate = runGate(docker, { feature: 'bmp', timeoutMs: 5000, pollMs: 5, out: (l) => lines.push(l) }).then(() => {
      passed = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    docker.fault = undefined; // Docker answers again: the native one still runs
    await new Promise((r) => setTimeout(r, 30));
    expect(passed).toBe(false);
    docker.halt('bmp');
    await gate;
    expect(lines.map((l) => l.replace(/[0-9a-f]{12}/, 'ID'))).toEqual([
      'gate bmp: cannot tell whether a native container runs (docker API /var/run/docker.sock: ECONNREFUSED); waiting for Docker to answer',
      'gate bmp: native container ID is running; waiting for it to stop',
      'gate bmp: no native container running, the pod may start',
    ]);
  });
});

describe('the host pass of the agent, per migration version', () => {
  /** A host root where the feature's drop-in directory is mounted, as the pod has it. */
  const mountedRoot = () => {
    const root = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    mkdirSync(dirname(join(root, dropInPath('bmp'))), { recursive: true });
    return root;
  };
  const pass = (version: 'v0' | 'v1' | 'v2', root: string, log: string[], docker: FakeDocker) =>
    reconcileHost('bmp', version, root, (l) => log.push(l), docker);

  it.each([
    ['v1', true],
    ['v2', false],
  ] as const)('%s: the stub drop-in and a reload request; native container kept: %s', async (version, nativeLeft) => {
    const root = mountedRoot();
    const docker = new FakeDocker();
    docker.run('bmp');
    docker.halt('bmp'); // stopped by migrate, still there
    await pass(version, root, [], docker);
    expect(readFileSync(join(root, dropInPath('bmp')), 'utf8')).toBe(stubDropIn('bmp'));
    expect(existsSync(join(root, RELOAD_REQUEST))).toBe(true);
    expect(docker.containers.has('bmp')).toBe(nativeLeft);
    // A second pass changes nothing and asks for no reload.
    const again: string[] = [];
    await pass(version, root, again, docker);
    expect(again).toEqual([]);
  });

  it('v0: removes the drop-in so the image unit runs the native container again', async () => {
    const root = mountedRoot();
    const docker = new FakeDocker();
    await pass('v1', root, [], docker);
    const log: string[] = [];
    await pass('v0', root, log, docker);
    expect(existsSync(join(root, dropInPath('bmp')))).toBe(false);
    expect(log).toEqual([`[host bmp] v0: updated ${dropInPath('bmp')}; requesting daemon-reload`]);
  });

  it('v2 with Docker failing: the clean-up is skipped with a log line, the drop-in still kept', async () => {
    const root = mountedRoot();
    const docker = new FakeDocker();
    docker.fault = 'error';
    const log: string[] = [];
    await pass('v2', root, log, docker);
    expect(log.at(-1)).toBe('[host bmp] v2 clean-up skipped: docker API list: HTTP 500');
    expect(existsSync(join(root, dropInPath('bmp')))).toBe(true);
  });

  it('a drop-in directory that is not mounted is left alone (the pod sees no other unit)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kubesonic-host-'));
    const log: string[] = [];
    await pass('v1', root, log, new FakeDocker());
    expect(existsSync(join(root, dropInPath('bmp')))).toBe(false);
    expect(log).toEqual([`[host bmp] ${join(root, '/etc/systemd/system/bmp.service.d')} is not mounted here: leaving the unit alone`]);
  });
});

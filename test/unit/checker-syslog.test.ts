// memory_checker's syslog lines (SONiC's tag, texts and priorities, from its
// files/image_config/monit/memory_checker) on the fake syslog, and the real port's hand-over to a
// stand-in `logger`. The real logger into a real rsyslog: test/system/signals.test.ts.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loggerSyslog, prioPrefixed } from '../../src/host/syslog.js';
import { runMemoryChecker, SYSLOG_TEXT } from '../../src/memory/main.js';
import { FakeSyslog } from '../fakes/syslog.js';
import { fixtureCheckerSettings } from '../helpers/fixtures.js';

// The bmp container of fixtures/cgroup/v2-systemd, found through containerd's state (no API server).
const USAGE = 419430400;
const paths = fixtureCheckerSettings();

async function check(args: string[], trail = false, settings = paths) {
  const syslog = new FakeSyslog();
  let stdout = '';
  const code = await runMemoryChecker(
    args,
    () => settings,
    {
      stdout: (t) => {
        stdout += t;
      },
      stderr: () => undefined,
    },
    { syslog, trail },
  );
  return { code, stdout, lines: syslog.lines, flushes: syslog.flushes };
}

describe('memory_checker to syslog', () => {
  it('above the threshold: the usage line at INFO, once, beside the stdout line monit logs', async () => {
    const r = await check(['bmp', String(USAGE - 1)]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(`[bmp]: Memory usage (${USAGE} Bytes) is larger than the threshold (${USAGE - 1} Bytes)!\n`);
    expect(r.lines).toEqual([{ severity: 'info', message: `[memory_checker] Total memory usage of container 'bmp' is '${USAGE}' Bytes!` }]);
  });

  it('below the threshold and not running: nothing, no logger spawned (the common path)', async () => {
    for (const args of [
      ['bmp', String(USAGE)],
      ['nosuch', '1000'],
    ]) {
      const r = await check(args);
      expect(r.code).toBe(0);
      expect(r.flushes).toBe(0);
    }
  });

  it("with the trail on: SONiC's per-run INFO lines too", async () => {
    expect((await check(['bmp', String(USAGE)], true)).lines).toEqual([{ severity: 'info', message: SYSLOG_TEXT.usage('bmp', USAGE) }]);
    expect((await check(['nosuch', '1000'], true)).lines).toEqual([
      { severity: 'info', message: "[memory_checker] Exits without checking memory usage since container 'nosuch' is not running!" },
    ]);
  });

  it('an invalid threshold and an internal error: ERR lines, exit codes unchanged', async () => {
    const bad = await check(['bmp', '0']);
    expect(bad.code).toBe(2);
    expect(bad.lines).toEqual([
      { severity: 'err', message: '[memory_checker] Invalid threshold value! Threshold value should be a positive integer.' },
    ]);
    const broken = await check(['bmp', '1000'], false, { ...paths, cgroupRoot: '/nonexistent/cgroup' });
    expect(broken.code).toBe(1);
    expect(broken.lines).toHaveLength(1);
    expect(broken.lines[0]).toMatchObject({ severity: 'err' });
    expect(broken.lines[0]!.message).toMatch(
      /^\[memory_checker\] Failed to get the memory usage of container 'bmp': .*no memory cgroup hierarchy.*! Exiting \.\.\.$/,
    );
  });

  it('a syslog that cannot be reached changes neither the exit code nor the output', async () => {
    const syslog = new FakeSyslog();
    syslog.broken = true;
    let stdout = '';
    const code = await runMemoryChecker(
      ['bmp', '1'],
      () => paths,
      {
        stdout: (t) => {
          stdout += t;
        },
        stderr: () => undefined,
      },
      { syslog, trail: false },
    );
    expect(code).toBe(3);
    expect(stdout).toContain('[bmp]: Memory usage');
  });
});

describe('the logger port', () => {
  it('prefixes each line with its user-facility priority and keeps one message per line', () => {
    expect(
      prioPrefixed([
        { severity: 'info', message: 'a' },
        { severity: 'err', message: 'b\nc' },
      ]),
    ).toBe('<14>a\n<11>b c\n');
  });

  it('hands all lines to one logger with the tag; a failing logger rejects with one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-logger-'));
    const fake = join(dir, 'logger');
    writeFileSync(fake, `#!/bin/sh\necho "$@" > ${dir}/args\ncat > ${dir}/stdin\n[ "$2" = "-t" ] || exit 1\n`);
    chmodSync(fake, 0o755);
    const s = loggerSyslog({ tag: 'kubesonic-agent', detached: false, command: fake });
    s.log('err', 'one');
    s.log('info', 'two');
    await s.flush();
    expect(readFileSync(join(dir, 'args'), 'utf8')).toBe('--prio-prefix -t kubesonic-agent\n');
    expect(readFileSync(join(dir, 'stdin'), 'utf8')).toBe('<11>one\n<14>two\n');
    await s.flush(); // nothing queued: no spawn
    writeFileSync(fake, '#!/bin/sh\necho "logger: socket /dev/log: No such file or directory" >&2\nexit 1\n');
    s.log('err', 'three');
    await expect(s.flush()).rejects.toThrow('logger exited 1: logger: socket /dev/log: No such file or directory');
    const missing = loggerSyslog({ tag: 't', detached: true, command: join(dir, 'absent') });
    missing.log('err', 'x');
    await expect(missing.flush()).rejects.toThrow(/^logger: spawn .*ENOENT/);
  });
});

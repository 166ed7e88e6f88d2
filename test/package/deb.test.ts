// The .deb installed the way a switch would: into a minimal Debian root (mmdebstrap minbase, cached
// by packaging/debian-root.sh) with Debian's own nodejs, bookworm's 18.x and trixie's 20.x. Every
// shipped command runs there with an empty environment (no NODE_EXTRA_CA_CERTS, no KUBECONFIG), as
// monit and systemd would start it; then dpkg -r leaves only the conffiles and dpkg -P nothing.
// Needs root (chroot) and `npm run package` first (scripts/test-all.sh does both).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = new URL('../../', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const DEB = join(REPO, 'build', 'deb', `kubesonic_${version}_all.deb`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A command inside the root with nothing in its environment but PATH, as monit runs it. */
function inRoot(root: string, ...argv: string[]): Run {
  return run('chroot', [root, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...argv]);
}

/** Every path in the root except dpkg's own records (which must change) and pseudo files. */
function tree(root: string): Set<string> {
  const out = run('chroot', [
    root,
    'find',
    '/',
    '-xdev',
    '-not',
    '-path',
    '/var/lib/dpkg/*',
    '-not',
    '-path',
    '/var/log/*',
    '-not',
    '-path',
    '/proc/*',
  ]);
  return new Set(out.stdout.split('\n').filter(Boolean));
}

const diff = (after: Set<string>, before: Set<string>) => [...after].filter((p) => !before.has(p)).sort();

const SUITES = [
  { suite: 'bookworm', packages: ['nodejs', 'monit'], node: /^v18\./ },
  { suite: 'trixie', packages: ['nodejs'], node: /^v20\./ },
];

it('the .deb has been built (npm run package), and packaging the same bundles again gives the same bytes', () => {
  expect(existsSync(DEB), `${DEB} missing: run npm run package`).toBe(true);
  const digest = () => createHash('sha256').update(readFileSync(DEB)).digest('hex');
  const before = digest();
  const again = spawnSync('bash', [join(REPO, 'scripts/package.sh')], {
    encoding: 'utf8',
    env: { ...process.env, KUBESONIC_NO_BUILD: '1' },
  });
  expect(again.status, again.stderr).toBe(0);
  expect(digest()).toBe(before);
});

describe.each(SUITES)('$suite with Debian nodejs', ({ suite, packages, node }) => {
  let root = '';
  let pristine = new Set<string>();

  beforeAll(() => {
    const tarball = run('bash', [join(REPO, 'packaging/debian-root.sh'), suite, ...packages]);
    expect(tarball.code, tarball.stderr).toBe(0);
    root = mkdtempSync(`/tmp/kubesonic-deb-${suite}-`);
    const x = run('tar', ['-xf', tarball.stdout.trim(), '-C', root]);
    expect(x.code, x.stderr).toBe(0);
    if (packages.includes('monit')) {
      // SONiC's own restart helper, which two stanzas call; monit -t checks that it exists.
      writeFileSync(join(root, 'usr/bin/restart_service'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(root, 'usr/bin/restart_service'), 0o755);
      inRoot(root, 'monit', '-t'); // writes monit's id file once, before the snapshot
    }
    pristine = tree(root);
    copyFileSync(DEB, join(root, 'tmp/kubesonic.deb'));
  }, 600_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("installs with dpkg -i next to Debian's nodejs", () => {
    expect(inRoot(root, 'node', '--version').stdout).toMatch(node);
    const r = inRoot(root, 'dpkg', '-i', '/tmp/kubesonic.deb');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    rmSync(join(root, 'tmp/kubesonic.deb'));
  });

  it.each(
    [
      {
        argv: ['memory_checker', '--version'],
        code: 0,
        stdout: new RegExp(`^memory_checker \\(kubesonic\\) ${version}\\n$`),
        stderr: /^$/,
      },
      // No apiserver, no containerd, no Docker: the container is not running, which is exit 0.
      { argv: ['memory_checker', 'bmp', '419430400'], code: 0, stdout: /^$/, stderr: /^$/ },
      { argv: ['memory_checker', 'bmp', '4x'], code: 2, stdout: /^$/, stderr: /^memory_checker: threshold .*\n$/ },
      { argv: ['memory_checker', 'bmp', '1', '--json'], code: 0, stdout: /"status":"not-running"/, stderr: /^$/ },
      // No credentials anywhere: the pod's state is unknown (4), not "stopped".
      { argv: ['kubesonic', 'systemd', 'bmp', 'status'], code: 4, stdout: /./, stderr: /^(?!.*\n.*\n)/ },
      {
        argv: ['kubesonic', 'systemd', 'bmp', 'unit'],
        code: 0,
        stdout: /ExecStartPre=\/usr\/bin\/kubesonic systemd bmp start\n/,
        stderr: /^$/,
      },
      {
        argv: ['kubesonic', 'render', 'bmp', '--spec', '/usr/share/doc/kubesonic/examples/features/bmp.yaml'],
        code: 0,
        stdout: /kind: DaemonSet/,
        stderr: /^$/,
      },
    ].map((c) => ({ ...c, line: c.argv.join(' ') })),
  )('$line → exit $code', ({ argv, code, stdout, stderr }) => {
    const r = inRoot(root, ...argv);
    expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({
      code,
      stdout: expect.stringMatching(stdout),
      stderr: expect.stringMatching(stderr),
    });
  });

  it("memory_checker's runs left one V8 code cache for this Node, root's alone", () => {
    const dir = join(root, 'var/cache/kubesonic/code-cache');
    const files = readdirSync(dir);
    expect(files).toEqual([
      expect.stringMatching(new RegExp(`^memory_checker\\.main-[0-9a-f]{16}-${inRoot(root, 'node', '--version').stdout.trim()}-x64\\.v8$`)),
    ]);
    const st = statSync(join(dir, files[0]!));
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: 0, mode: 0o644 });
  });

  it('every shipped command loads on this Node (--help)', () => {
    const bins = readdirSync(join(root, 'usr/lib/kubesonic'));
    // memory_checker as CommonJS (the hot path starts without the ESM loader), the rest as ESM.
    // memory_checker.cjs is its launcher: it runs memory_checker.main.cjs with V8's code cache.
    expect(bins).toEqual(
      expect.arrayContaining(['memory_checker.cjs', 'memory_checker.main.cjs', 'kubesonic.mjs', 'kubesonic-exporter.mjs']),
    );
    expect(bins.filter((b) => !/\.[mc]js$/.test(b) || /^(testbed|memory_checker)\.mjs$/.test(b))).toEqual([]);
    for (const bin of bins.filter((b) => !b.endsWith('.main.cjs'))) {
      const r = inRoot(root, `/usr/bin/${bin.replace(/\.[mc]js$/, '')}`, '--help');
      expect({ bin, code: r.code, trace: /\n\s+at /.test(r.stderr) }).toEqual({ bin, code: 0, trace: false });
    }
  });

  // Only roots that have monit get this test (trixie ships none): defined there, not skipped elsewhere.
  const withMonit = packages.includes('monit') ? it : undefined;
  withMonit?.('monit accepts the installed stanzas (monit -t)', () => {
    const r = inRoot(root, 'monit', '-t');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Control file syntax OK/);
    // monit reports a stanza's problem as "<file>:<line>: <message>" (e.g. a program that does not exist).
    expect(r.stdout + r.stderr).not.toMatch(/conf\.d\/[^:]+:[0-9]+:/);
    expect(readFileSync(join(root, 'etc/monit/conf.d/monit_bmp'), 'utf8')).toContain(
      'check program container_memory_bmp with path "/usr/bin/memory_checker bmp 838860800"',
    );
  });

  it('dpkg -r leaves only the conffiles, dpkg -P leaves nothing', () => {
    const removed = inRoot(root, 'dpkg', '-r', 'kubesonic');
    expect(removed.code, removed.stderr).toBe(0);
    const left = diff(tree(root), pristine);
    expect(left.filter((p) => p.startsWith('/etc/monit/conf.d/monit_'))).toEqual([
      '/etc/monit/conf.d/monit_bmp',
      '/etc/monit/conf.d/monit_gnmi',
      '/etc/monit/conf.d/monit_snmp',
      '/etc/monit/conf.d/monit_telemetry',
    ]);
    expect(left.filter((p) => !p.startsWith('/etc/monit/conf.d/monit_') && p !== '/etc/monit/conf.d' && p !== '/etc/monit')).toEqual([]);
    const purged = inRoot(root, 'dpkg', '-P', 'kubesonic');
    expect(purged.code, purged.stderr).toBe(0);
    expect(diff(tree(root), pristine)).toEqual([]);
  });
});

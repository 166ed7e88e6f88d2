// V8's code cache for memory_checker's bundle (src/util/code-cache.ts), run as the launcher runs it:
// a real node process over a small CommonJS main, the cache in a real root-owned directory. What a
// run did is read from the files (written or not, replaced or not), never from the code itself.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheFileName } from '../../src/util/code-cache.js';
import { rootOnly, trustedDir } from '../../src/util/root-only.js';

const REPO = new URL('../../', import.meta.url).pathname;
const isRoot = process.geteuid?.() === 0;
/** A root-owned directory chain (not under /tmp, which others may write). */
const BASE = '/var/lib/kubesonic-test/unit-code-cache';
let work = '';
let launcher = '';

/** A launcher like src/cli/memory_checker-launcher.ts, with the cache directory and bundle given on its command line. */
const LAUNCHER_SOURCE = `
import { runWithCodeCache } from ${JSON.stringify(join(REPO, 'src/util/code-cache.ts'))};
const [main, sha256, cacheDir] = process.argv.splice(2, 3);
runWithCodeCache({ main, sha256, cacheDir, euid: process.geteuid(), node: process.version, arch: process.arch });
`;

/** The main: prints its arguments, loads node:https when asked (a longer path), exits 3. */
const MAIN = `"use strict";
if (process.argv.includes('--long')) require('node:https');
function answer(args) { return 'main ran with ' + args.join(' '); }
process.stdout.write(answer(process.argv.slice(2)) + '\\n');
process.exitCode = 3;
`;

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(BASE, { recursive: true, mode: 0o755 });
  work = mkdtempSync(join(BASE, 'run-'));
  launcher = join(work, 'launcher.cjs');
  const built = buildSync({
    stdin: { contents: LAUNCHER_SOURCE, resolveDir: REPO, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
  });
  writeFileSync(launcher, built.outputFiles[0]!.contents);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function setup(name: string, sha = 'ab'.repeat(32)) {
  const main = join(work, `${name}.main.cjs`);
  writeFileSync(main, MAIN);
  const dir = join(work, `${name}-cache`);
  const file = join(dir, cacheFileName(main, sha, process.version, process.arch));
  const run = (args: string[] = [], opts: { uid?: number; cacheDir?: string } = {}) => {
    const argv = [launcher, main, sha, opts.cacheDir ?? dir, ...args];
    const r =
      opts.uid === undefined
        ? spawnSync(process.execPath, argv, { encoding: 'utf8', env: { PATH: process.env.PATH } })
        : spawnSync('setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, ...argv], {
            encoding: 'utf8',
            env: { PATH: process.env.PATH },
          });
    // The main's own output and exit code, whatever the cache did.
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 3,
      stdout: `main ran with ${args.join(' ')}\n`,
      stderr: '',
    });
  };
  const stamp = () => {
    const st = lstatSync(file);
    return { ino: st.ino, mtimeMs: st.mtimeMs, mode: st.mode & 0o777, uid: st.uid };
  };
  return { main, dir, file, run, stamp, loadedAtWrite: () => readFileSync(file).readUInt32LE(0) };
}

describe('the code cache (pure parts)', () => {
  it.each([
    [{ uid: 0, mode: 0o40755 }, true],
    [{ uid: 0, mode: 0o100644 }, true],
    [{ uid: 0, mode: 0o40775 }, false],
    [{ uid: 0, mode: 0o41777 }, false],
    [{ uid: 0, mode: 0o100666 }, false],
    [{ uid: 1000, mode: 0o40755 }, false],
  ])('rootOnly(%o) is %s', (st, expected) => {
    expect(rootOnly(st)).toBe(expected);
  });

  it('names the file by bundle, content, Node version and architecture', () => {
    expect(cacheFileName('/usr/lib/kubesonic/memory_checker.main.cjs', 'f'.repeat(64), 'v18.20.4', 'arm64')).toBe(
      'memory_checker.main-ffffffffffffffff-v18.20.4-arm64.v8',
    );
  });

  it('trusts no directory under one others may write (/tmp)', () => {
    expect(trustedDir(mkdtempSync(join(tmpdir(), 'kubesonic-cc-')))).toBe(false);
    expect(trustedDir('/nonexistent/dir')).toBe(false);
  });
});

describe.skipIf(!isRoot)('the code cache, on real runs of node', () => {
  it('the first run writes it (root, 0644); the next run uses it and writes nothing', () => {
    const c = setup('first');
    c.run(['bmp', '1']);
    const written = c.stamp();
    expect(written).toMatchObject({ mode: 0o644, uid: 0 });
    c.run(['bmp', '1']);
    expect(c.stamp()).toEqual(written);
  });

  it('a run down a longer path (more of Node loaded) writes it again once; a shorter one then leaves it', () => {
    const c = setup('longer');
    c.run(['short']);
    const short = c.loadedAtWrite();
    c.run(['--long']);
    expect(c.loadedAtWrite()).toBeGreaterThan(short);
    const long = c.stamp();
    c.run(['short']);
    c.run(['--long']);
    expect(c.stamp()).toEqual(long);
  });

  it('garbage in a root-only cache file: V8 refuses it, the main runs the same, the file is written anew', () => {
    const c = setup('garbage');
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(c.file, Buffer.concat([Buffer.from([200, 0, 0, 0]), Buffer.alloc(4096, 0x5a)]), { mode: 0o644 });
    c.run(['x']);
    expect(readFileSync(c.file).subarray(4, 4100).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
  });

  it('a cache file others may write is never read: replaced by a root-only one', () => {
    const c = setup('writable');
    c.run(['x']);
    chmodSync(c.file, 0o666);
    const before = c.stamp();
    c.run(['x']);
    expect(c.stamp()).toMatchObject({ mode: 0o644, uid: 0 });
    expect(c.stamp().ino).not.toBe(before.ino);
  });

  it('a symbolic link in place of the cache file is replaced, never written through: its target is untouched', () => {
    const c = setup('link');
    mkdirSync(c.dir, { recursive: true });
    const target = join(work, 'link-target');
    writeFileSync(target, 'not a cache');
    symlinkSync(target, c.file);
    c.run(['x']);
    expect(readFileSync(target, 'utf8')).toBe('not a cache');
    expect(lstatSync(c.file).isFile()).toBe(true);
  });

  it('a cache directory others may write (under /tmp): nothing written there', () => {
    const c = setup('tmp');
    const dir = join(mkdtempSync(join(tmpdir(), 'kubesonic-cc-')), 'cache');
    c.run(['x'], { cacheDir: dir });
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('not root: no cache read or written', () => {
    const c = setup('nobody');
    // The launcher and the main must be readable by nobody: the work directory is 0700 (mkdtemp).
    chmodSync(work, 0o755);
    try {
      c.run(['x'], { uid: 65534 });
    } finally {
      chmodSync(work, 0o700);
    }
    expect(existsSync(c.file)).toBe(false);
  });

  it('a new bundle (another SHA-256) gets its own file and the old one goes', () => {
    const a = setup('bundle', '11'.repeat(32));
    a.run(['x']);
    const b = setup('bundle', '22'.repeat(32));
    b.run(['x']);
    expect(readdirSync(b.dir)).toEqual([b.file.slice(b.dir.length + 1)]);
    expect(statSync(b.file).mode & 0o777).toBe(0o644);
  });
});

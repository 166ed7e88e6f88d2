// V8's code cache for a one-shot command's bundle. memory_checker starts once a minute per feature
// on a switch; compiling its bundle (and each function it calls, on first call) is a tenth of its
// run. Node ≥ 22.1 has module.enableCompileCache for this; Debian's nodejs (bookworm 18, trixie 20)
// does not, so the launcher does what it does: compile the bundle with vm.Script and the cached
// data of an earlier run, and write that data once when there was none or V8 refused it.
//
// V8 caches the functions compiled when the data is made: the data is made at the end of a run, so
// it holds what that run called. A run that takes a longer path (the API server's, after a first
// run with it away) writes it again: the file's first 4 bytes say how many of Node's own modules
// the run that wrote it had loaded, and a run that loaded more rewrites it. So the cache grows to
// the longest path once and then stays.
//
// The cache is bytecode V8 runs as it finds it, in a command monit runs as root: it is read and
// written only by root, only in a directory whose every component is owned by root and writable by
// root alone, only from a file owned by root and writable by root alone. Its name carries the
// bundle's SHA-256 and the Node version: V8 itself checks only the source's length, its own
// version and flags, so a changed bundle must never meet an old file.
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { Script } from 'node:vm';
import { readRootOnly, replaceFile, rootOnlyDir } from './root-only.js';

export interface CodeCacheRun {
  /** The bundle to run (CommonJS). */
  main: string;
  /** SHA-256 of the bundle, hex, computed when it was built. */
  sha256: string;
  /** Where the cache lives; undefined: no cache (compile every time). */
  cacheDir: string | undefined;
  /** Effective uid of this process: the cache is root's alone. */
  euid: number;
  /** The Node version and architecture V8's data belongs to. */
  node: string;
  arch: string;
}

/** The cache file of a bundle: one per bundle content, Node version and architecture. */
export function cacheFileName(main: string, sha256: string, node: string, arch: string): string {
  const name = main.slice(main.lastIndexOf(sep) + 1).replace(/\.c?js$/, '');
  return `${name}-${sha256.slice(0, 16)}-${node}-${arch}.v8`;
}

/** How many of Node's own modules this process has loaded (0 where Node does not say). */
function nodeModulesLoaded(): number {
  return (process as { moduleLoadList?: readonly unknown[] }).moduleLoadList?.length ?? 0;
}

const HEADER_BYTES = 4;

/** The new data in place of the old (root's alone, 0644); other bundles' files go. */
function writeCache(dir: string, file: string, data: Buffer): void {
  replaceFile(dir, file, data, 0o644);
  const prefix = file.slice(0, file.indexOf('-') + 1);
  for (const other of readdirSync(dir))
    if (other !== file && other.startsWith(prefix) && other.endsWith('.v8')) unlinkSync(join(dir, other));
}

/**
 * Where the cache may be used: root, a directory that is (or, made now, becomes) root's alone.
 * Undefined: compile without one.
 */
function usableDir(run: CodeCacheRun): string | undefined {
  if (run.cacheDir === undefined || run.euid !== 0) return undefined;
  return rootOnlyDir(run.cacheDir, 0o755) ? run.cacheDir : undefined;
}

/**
 * Runs the bundle as Node would run it as a CommonJS main, compiled with the cache where one may be
 * used; a missing or refused cache is written when the process exits (never changing its exit
 * code or its output).
 */
export function runWithCodeCache(run: CodeCacheRun): void {
  const dir = usableDir(run);
  const file = cacheFileName(run.main, run.sha256, run.node, run.arch);
  const found = dir === undefined ? undefined : readRootOnly(join(dir, file));
  const writerLoaded = found && found.length > HEADER_BYTES ? found.readUInt32LE(0) : undefined;
  const cachedData = writerLoaded === undefined ? undefined : found!.subarray(HEADER_BYTES);
  let source = readFileSync(run.main, 'utf8');
  if (source.startsWith('#!')) source = `//${source.slice(2)}`;
  const script = new Script(Module.wrap(source), { filename: run.main, cachedData });
  const used = cachedData !== undefined && !script.cachedDataRejected;
  if (dir !== undefined)
    process.once('exit', () => {
      const loaded = nodeModulesLoaded();
      if (used && loaded <= writerLoaded!) return;
      try {
        const header = Buffer.alloc(HEADER_BYTES);
        header.writeUInt32LE(loaded, 0);
        writeCache(dir, file, Buffer.concat([header, script.createCachedData()]));
      } catch {
        // A full disk or a read-only /var: the next run compiles again, as it did without a cache.
      }
    });
  const compiled = script.runInThisContext() as (...args: unknown[]) => void;
  const module = new Module(run.main);
  module.filename = run.main;
  compiled.call(module.exports, module.exports, createRequire(run.main), module, run.main, dirname(run.main));
}

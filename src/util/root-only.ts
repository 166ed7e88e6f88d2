// Files only root may have written: what a root process may take as its own earlier output (V8's
// code cache, a TLS session) without trusting anyone else. A path is root's alone when every
// directory from it up to / and the file itself are owned by root and writable by no one else;
// the file is opened without following a link and checked on the open descriptor.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Owned by root, writable by root alone (no group or other write bit). */
export function rootOnly(st: { uid: number; mode: number }): boolean {
  return st.uid === 0 && (st.mode & 0o022) === 0;
}

/** Every directory from `dir` up to / exists, is a directory and is root's alone. */
export function trustedDir(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(d);
    } catch {
      return false;
    }
    if (!st.isDirectory() || !rootOnly(st)) return false;
    if (dirname(d) === d) return true;
  }
}

/** `dir`, made with `mode` if missing, is there and root's alone up to / (false on any failure). */
export function rootOnlyDir(dir: string, mode: number): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch {
    return false;
  }
  return trustedDir(dir);
}

/** The contents of `file` if it is a regular file root's alone (a link is not followed). */
export function readRootOnly(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return st.isFile() && rootOnly(st) ? readFileSync(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Written beside, then renamed over: a reader sees the old contents or the new, never half. */
export function replaceFile(dir: string, name: string, data: Buffer, mode: number): void {
  const tmp = join(dir, `${name}.${process.pid}.tmp`);
  writeFileSync(tmp, data, { mode, flag: 'wx' });
  renameSync(tmp, join(dir, name));
}

// Host file changes that survive crashes and reboots: write to a temporary file in the same
// directory, fsync, rename; anything replaced or removed that kubesonic did not write is first
// copied to a persistent backup directory (SONiC keeps /etc/sonic across reboots and upgrades).
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BACKUP_DIR, MARKER } from '../sonic/paths.js';

/** One file of a plan: what it must hold, or that it must not exist. */
export interface HostFile {
  path: string;
  /** undefined: the file must not exist. */
  content: string | undefined;
  mode: number;
}

export interface ApplyResult {
  changed: string[];
  backups: string[];
}

export function atomicWrite(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.kubesonic-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** The file's text; undefined when it does not exist (an unreadable file is an error, not absent). */
export function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e; // unreadable is not absent
  }
}

/** Back up a file kubesonic did not write, before it is replaced or removed. */
function backupForeign(root: string, path: string, current: string, backupDir: string, now: Date): string | undefined {
  if (current.startsWith(MARKER)) return undefined;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const dest = join(root, backupDir, `${path.replace(/^\//, '').replace(/\//g, '__')}.${stamp}`);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(join(root, path), dest);
  return dest;
}

/** Make the files under `root` match the plan. Idempotent; returns what changed. */
export function applyHostFiles(plan: readonly HostFile[], root = '/', backupDir = BACKUP_DIR, now = new Date()): ApplyResult {
  const result: ApplyResult = { changed: [], backups: [] };
  for (const f of plan) {
    const full = join(root, f.path);
    const current = readOrUndefined(full);
    if (current === f.content) continue;
    if (current !== undefined) {
      const b = backupForeign(root, f.path, current, backupDir, now);
      if (b) result.backups.push(b);
    }
    if (f.content === undefined) rmSync(full, { force: true });
    else atomicWrite(full, f.content, f.mode);
    result.changed.push(f.path);
  }
  return result;
}

/** Touch the request file the kubesonic-reload.path unit watches. */
export function requestReload(root: string, requestPath: string): void {
  atomicWrite(join(root, requestPath), `${new Date().toISOString()}\n`, 0o644);
}

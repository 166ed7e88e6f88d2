// The few file reads memory_checker makes, as sync calls behind the async signatures its code uses.
// Loading node:fs/promises (FileHandle, streams, readline) cost memory_checker more start-up than
// all its reads together: these are small kernel files (cgroup, /proc) and containerd's state,
// read once per check. Errors are the same ErrnoExceptions, as rejections.
import { readFileSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';

export async function readFile(path: string, encoding: 'utf8'): Promise<string>;
export async function readFile(path: string): Promise<Buffer>;
export async function readFile(path: string, encoding?: 'utf8'): Promise<string | Buffer> {
  return encoding ? readFileSync(path, encoding) : readFileSync(path);
}

export async function readdir(path: string): Promise<string[]>;
export async function readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
export async function readdir(path: string, options?: { withFileTypes: true }): Promise<string[] | Dirent[]> {
  return options ? readdirSync(path, options) : readdirSync(path);
}

export async function stat(path: string): Promise<Stats> {
  return statSync(path);
}

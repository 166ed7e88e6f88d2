// Taints that could not follow the host-side hold yet (API server away during a stop or start): one
// empty file per feature in TAINT_PENDING_DIR (tmpfs; after a reboot the unit's start writes the taint
// again). kubesonic-taints.timer runs `kubesonic systemd <f> taint` for each until the API server
// answers; systemd skips the run without starting a process while the directory is empty.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function setTaintPending(dir: string, feature: string, on: boolean): void {
  const path = join(dir, feature);
  if (!on) {
    rmSync(path, { force: true });
    return;
  }
  if (existsSync(path)) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(path, '', { mode: 0o644 });
}

export function pendingTaints(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

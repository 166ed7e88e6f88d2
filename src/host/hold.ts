// The host-side hold of a feature (sonic/paths.ts HOLD_DIR): one file per feature whose unit stopped
// it. The feature container's command (manifest/render.ts holdWrapped) waits while the file exists,
// so the hold works with the API server away and survives the kubelet restarting the container.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const holdPath = (holdDir: string, feature: string): string => join(holdDir, feature);

export function isHeld(holdDir: string, feature: string): boolean {
  return existsSync(holdPath(holdDir, feature));
}

/** Put the hold on or take it off; true when that changed something. */
export function setHold(holdDir: string, feature: string, on: boolean, why = 'stopped by its unit'): boolean {
  const path = holdPath(holdDir, feature);
  if (existsSync(path) === on) return false;
  if (on) {
    mkdirSync(holdDir, { recursive: true, mode: 0o755 });
    writeFileSync(path, `${why} ${new Date().toISOString()}\n`, { mode: 0o644 });
  } else {
    rmSync(path, { force: true });
  }
  return true;
}

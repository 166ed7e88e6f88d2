// The host-side hold of a feature (sonic/paths.ts HOLD_DIR): one file per feature whose unit stopped
// it. The feature container's command (manifest/render.ts holdWrapped) waits while the file exists,
// so the hold works with the API server away and survives the kubelet restarting the container.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const holdPath = (holdDir: string, feature: string): string => join(holdDir, feature);

export function isHeld(holdDir: string, feature: string): boolean {
  return existsSync(holdPath(holdDir, feature));
}

/** Create (with why and when) or remove one flag file; true when that changed something. */
function setFlag(dir: string, path: string, on: boolean, why: string): boolean {
  if (existsSync(path) === on) return false;
  if (on) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(path, `${why} ${new Date().toISOString()}\n`, { mode: 0o644 });
  } else {
    rmSync(path, { force: true });
  }
  return true;
}

/** Put the hold on or take it off; true when that changed something. */
export function setHold(holdDir: string, feature: string, on: boolean, why = 'stopped by its unit'): boolean {
  return setFlag(holdDir, holdPath(holdDir, feature), on, why);
}

/**
 * The native marker (`<f>.native` next to the hold): a native Docker container of the feature may run
 * on this host, so the pod's container must wait (the same wrapper as the hold) and the node agent
 * reports the pod pending, never running. The host side, root anyway, does the Docker work and sets
 * or clears it — migrate, the unit's shell around its local fallback — so no container of the pod
 * mounts the Docker socket. Cleared only once Docker proved no native container runs.
 */
export const NATIVE_MARK_SUFFIX = '.native';

export const nativeMarkPath = (holdDir: string, feature: string): string => join(holdDir, `${feature}${NATIVE_MARK_SUFFIX}`);

export function isNativeMarked(holdDir: string, feature: string): boolean {
  return existsSync(nativeMarkPath(holdDir, feature));
}

/** Put the native marker on or take it off; true when that changed something. */
export function setNativeMark(holdDir: string, feature: string, on: boolean, why = 'a native container may run'): boolean {
  return setFlag(holdDir, nativeMarkPath(holdDir, feature), on, why);
}

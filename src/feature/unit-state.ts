// The unit state file: /run/kubesonic/units/<feature>, one word the unit's ExecStart (a small shell
// loop, systemd/unit.ts) reads every two seconds. Written by whoever watches the pod (the agent or
// the sidecar) and by the unit's own start/stop, which see the pod at that moment.
//   running   the feature container runs on this node
//   disabled  not running, and the node carries a taint of the feature (the operator's disable or the
//             unit's own stop): stopped on purpose
//   pending   a pod is there, its feature container not (yet) running
//   stopped   no pod, and no disable taint: the DaemonSet should bring one back
// No file (after a reboot: /run is tmpfs) means "not known yet": the loop keeps waiting.
// A disable carries its reason as a third word (operator | unit): the writer's memory across its own
// restarts (a new sidecar, an agent update) of whether the operator's disable taint was on.
import { join } from 'node:path';
import { atomicWrite, readOrUndefined } from '../host/files.js';
import type { Observation } from './state.js';

export type UnitState = 'running' | 'pending' | 'stopped' | 'disabled';

/** The same precedence as FEATURE's state (feature/state.ts): not running on a tainted node is a disable. */
export function unitStateOf(o: Observation): UnitState {
  if (o.running) return 'running';
  if (o.disabledByTaint || o.stoppedByUnit) return 'disabled';
  return o.podPresent ? 'pending' : 'stopped';
}

export const unitStatePath = (unitStateDir: string, feature: string): string => join(unitStateDir, feature);

export type DisableReason = 'operator' | 'unit';

export function disableReasonOf(o: Observation): DisableReason | undefined {
  if (o.running) return undefined;
  if (o.disabledByTaint) return 'operator';
  return o.stoppedByUnit ? 'unit' : undefined;
}

export function readUnitState(unitStateDir: string, feature: string): { state: string; reason: string | undefined } | undefined {
  const text = readOrUndefined(unitStatePath(unitStateDir, feature));
  if (!text) return undefined;
  const [state = '', , reason] = text.trim().split(' ');
  return { state, reason };
}

/** Write the state (and a disable's reason) if it changed; true when it did. */
export function writeUnitState(unitStateDir: string, feature: string, state: UnitState, now = new Date(), reason?: DisableReason): boolean {
  const current = readUnitState(unitStateDir, feature);
  if (current?.state === state && current.reason === reason) return false;
  atomicWrite(unitStatePath(unitStateDir, feature), `${state} ${Math.floor(now.getTime() / 1000)}${reason ? ` ${reason}` : ''}\n`, 0o644);
  return true;
}

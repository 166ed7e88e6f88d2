// What the FEATURE table should say about a Kubernetes-managed feature, from what the API server
// shows. Pure: the watcher feeds observations in, the writer applies the result.
//
// Ownership (the sidecar writes nothing else):
//   STATE_DB  FEATURE|<f>: state, container_id, container_version, current_owner, remote_state, update_time,
//                          and the OOM-kill record (oom_kill_count, last_oom_kill_id, last_oom_kill_time)
// current_owner/remote_state are in the values that leave ctrmgrd (sonic-ctrmgrd, KubeSonic v1)
// nothing to do with set_owner=local, which migrate insists on: running is what SONiC's own
// `container start` writes for a local start (current_owner=local, remote_state=none); never
// current_owner=kube (ctrmgrd restarts the unit) nor remote_state=running (ctrmgrd tags the pod's
// image as the local :latest and removes the native container). The rows, with ctrmgrd's lines:
// test/unit/ctrmgrd-decisions.test.ts.
//   CONFIG_DB FEATURE|<f>: state, and only to mirror an operator's intent on the Kubernetes side: the
//                          disable taint <f>=disabled:NoSchedule put on (→ disabled) or taken off
//                          (→ enabled); never kubesonic's own stop taint (a restart, a config reload,
//                          a hand `systemctl stop`); only when it holds "enabled" or "disabled"
//                          (never always_*, never a template), and only from fresh observations.

export interface Observation {
  /** The feature's container is running (and ready) in a pod on this node. */
  running: boolean;
  /** 12-character runtime id of that container, as SONiC tools show it. */
  containerId: string | undefined;
  /** The running image's version (its tag), as SONiC's container_startup writes container_version. */
  containerVersion?: string | undefined;
  /** A pod for the feature exists on this node (running or not). */
  podPresent: boolean;
  /** The node carries <feature>=disabled:NoSchedule: an operator's disable. */
  disabledByTaint: boolean;
  /** The unit was stopped (the host-side hold, or kubesonic's stop taint): nobody disabled the feature. */
  stoppedByUnit?: boolean;
  /** The operator's disable taint was seen and is now gone: an enable (the agent tracks the edge). */
  enabledByOperator?: boolean;
  /** The feature container's last termination, when the kernel OOM-killed it (kubelet: OOMKilled). */
  lastOomKill?: OomKill | undefined;
}

/** One OOM kill of the feature container, as the pod status shows it (lastState.terminated). */
export interface OomKill {
  /** What identifies this kill across agent restarts: the killed container's 12-char id (else its finish time). */
  id: string;
  /** When it was killed (lastState.terminated.finishedAt); undefined if the status has none. */
  finishedAt: Date | undefined;
  /** The container's restartCount when the kill was seen. */
  restartCount: number;
  pod: string;
  /** The container's memory limit as the pod spec has it ("800Mi"), if any. */
  limit: string | undefined;
}

export interface StateDbFields {
  state?: 'enabled' | 'disabled';
  container_id: string;
  container_version?: string;
  current_owner: 'local' | 'none';
  remote_state: 'none' | 'pending' | 'stopped';
}

export interface Desired {
  stateDb: StateDbFields;
  /** CONFIG_DB state to mirror, if any. */
  configState: 'enabled' | 'disabled' | undefined;
  /** The last OOM kill seen: counted once in STATE_DB unless last_oom_kill_id already names it. */
  oomKill?: OomKill | undefined;
}

/** STATE_DB fields of the OOM-kill record (kubesonic's own; rollback removes them). */
export const OOM_FIELDS = { count: 'oom_kill_count', id: 'last_oom_kill_id', time: 'last_oom_kill_time' } as const;

/** STATE_DB FEATURE|<f> field the unit's shell counts native containers it stopped behind the pod's back in (systemd/unit.ts). */
export const NATIVE_STOPPED_FIELD = 'native_stopped_count';

/**
 * The OOM-kill record's new fields if `kill` is not the one STATE_DB already counted, else undefined.
 * The count lives in STATE_DB (not in the agent) so a restarted agent counts each kill once.
 */
export function oomKillChanges(
  current: Readonly<Record<string, string>>,
  kill: OomKill | undefined,
  now: Date,
): Record<string, string> | undefined {
  if (!kill || current[OOM_FIELDS.id] === kill.id) return undefined;
  const before = Number.parseInt(current[OOM_FIELDS.count] ?? '0', 10);
  return {
    [OOM_FIELDS.count]: String((Number.isFinite(before) && before > 0 ? before : 0) + 1),
    [OOM_FIELDS.id]: kill.id,
    [OOM_FIELDS.time]: sonicTimestamp(kill.finishedAt ?? now),
  };
}

export function desiredFeatureState(o: Observation): Desired {
  const enable = o.enabledByOperator && !o.disabledByTaint ? ('enabled' as const) : undefined;
  const oom = o.lastOomKill ? { oomKill: o.lastOomKill } : {};
  if (o.running) {
    return {
      stateDb: {
        state: 'enabled',
        container_id: o.containerId ?? '',
        ...(o.containerVersion ? { container_version: o.containerVersion } : {}),
        // The unit on this switch runs the feature (through its pod): to ctrmgrd a local start.
        current_owner: 'local',
        remote_state: 'none',
      },
      configState: enable,
      ...oom,
    };
  }
  if (o.disabledByTaint) {
    // Disabled on purpose: say so in both databases once no pod is left.
    return {
      stateDb: { state: 'disabled', container_id: '', current_owner: 'none', remote_state: 'stopped' },
      configState: 'disabled',
      ...oom,
    };
  }
  // Starting, restarting, crash-looping, or stopped by its unit: not running, but nobody disabled
  // it. Leave `state` alone, as a hand `docker stop` does on a native switch. A pod held by its unit
  // (the container waits in the host-side hold) is stopped, not pending.
  return {
    stateDb: { container_id: '', current_owner: 'none', remote_state: o.podPresent && !o.stoppedByUnit ? 'pending' : 'stopped' },
    configState: enable,
    ...oom,
  };
}

export const MIRRORABLE_CONFIG_STATES = new Set(['enabled', 'disabled']);

/** Whether a CONFIG_DB state may be replaced by the mirrored one. */
export function mayMirrorConfigState(current: string | undefined, next: 'enabled' | 'disabled'): boolean {
  return current !== undefined && MIRRORABLE_CONFIG_STATES.has(current) && current !== next;
}

/** Fields of `desired` that differ from what STATE_DB holds (update_time is added by the writer). */
export function stateDbChanges(current: Readonly<Record<string, string>>, desired: StateDbFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) {
    if (v !== undefined && current[k] !== v) out[k] = v;
  }
  return out;
}

/** SONiC's update_time format: %Y-%m-%d %H:%M:%S (local time). */
export function sonicTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

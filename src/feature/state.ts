// What the FEATURE table should say about a Kubernetes-managed feature, from what the API server
// shows. Pure: the watcher feeds observations in, the writer applies the result.
//
// Ownership (the sidecar writes nothing else):
//   STATE_DB  FEATURE|<f>: state, container_id, container_version, current_owner, remote_state, update_time
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
}

export interface StateDbFields {
  state?: 'enabled' | 'disabled';
  container_id: string;
  container_version?: string;
  current_owner: 'kube' | 'none';
  remote_state: 'running' | 'pending' | 'stopped';
}

export interface Desired {
  stateDb: StateDbFields;
  /** CONFIG_DB state to mirror, if any. */
  configState: 'enabled' | 'disabled' | undefined;
}

export function desiredFeatureState(o: Observation): Desired {
  const enable = o.enabledByOperator && !o.disabledByTaint ? ('enabled' as const) : undefined;
  if (o.running) {
    return {
      stateDb: {
        state: 'enabled',
        container_id: o.containerId ?? '',
        ...(o.containerVersion ? { container_version: o.containerVersion } : {}),
        current_owner: 'kube',
        remote_state: 'running',
      },
      configState: enable,
    };
  }
  if (o.disabledByTaint) {
    // Disabled on purpose: say so in both databases once no pod is left.
    return {
      stateDb: { state: 'disabled', container_id: '', current_owner: 'none', remote_state: 'stopped' },
      configState: 'disabled',
    };
  }
  // Starting, restarting, crash-looping, or stopped by its unit: not running, but nobody disabled
  // it. Leave `state` alone, as a hand `docker stop` does on a native switch. A pod held by its unit
  // (the container waits in the host-side hold) is stopped, not pending.
  return {
    stateDb: { container_id: '', current_owner: 'none', remote_state: o.podPresent && !o.stoppedByUnit ? 'pending' : 'stopped' },
    configState: enable,
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

// SONiC's names and places on a switch, and kubesonic's own next to them: the one module that
// knows them (node-feature-discovery's `hostpath` idea). Everything here is a plain constant, so
// memory_checker's bundle can import it without pulling anything else in.

/** How far a switch's feature has moved (the seed's sidecar versions). */
export type MigrationVersion = 'v0' | 'v1' | 'v2';
export const VERSIONS: readonly MigrationVersion[] = ['v0', 'v1', 'v2'];

/** Redis databases of the FEATURE table (sonic-swss-common database_config.json). */
export const CONFIG_DB = 4;
export const STATE_DB = 6;
export const featureKey = (feature: string): string => `FEATURE|${feature}`;

export const REDIS_SOCKET = '/var/run/redis/redis.sock';
export const REDIS_SOCKET_DIR = '/var/run/redis';
export const DOCKER_SOCKET = '/var/run/docker.sock';
/** The switch's syslog socket (rsyslog's, or journald's forwarding to it). */
export const SYSLOG_SOCKET = '/dev/log';
export const CONTAINERD_STATE = '/run/containerd';
/** The kubelet's container runtime (CRI) on the switch, for crictl: containerd's socket. */
export const CRI_ENDPOINT = 'unix:///run/containerd/containerd.sock';
export const CGROUP_ROOT = '/sys/fs/cgroup';
export const PROC_ROOT = '/proc';

/** Where systemd units get their local drop-ins; SONiC's own unit files live in /usr/lib. */
export const UNIT_DIR = '/etc/systemd/system';
/** kubesonic's persistent state on the switch (/etc/sonic survives reboots and upgrades). */
export const STATE_DIR = '/etc/sonic/kubesonic';
export const BACKUP_DIR = `${STATE_DIR}/backup`;
export const SPEC_DIR = `${STATE_DIR}/features`;
/** migrate's records, one per feature migrated on this node (host/records.ts). */
export const MIGRATED_DIR = `${STATE_DIR}/migrated`;
export const RELOAD_REQUEST = `${STATE_DIR}/reload-request`;
/**
 * Host-side holds: one file per feature its unit stopped (systemctl stop, featured's disable). The
 * feature container's command waits while its file exists, so nothing the kubelet restarts brings
 * the daemon back, with or without the API server. In /etc (persistent): a feature stopped before a
 * reboot stays stopped until its unit starts it, as a native one does.
 */
export const HOLD_DIR = `${STATE_DIR}/hold`;
/** Where a feature container sees HOLD_DIR (read-only). */
export const HOLD_MOUNT = '/run/kubesonic-hold';
/** kubesonic's own credentials on the switch (tried before the kubelet's). */
export const KUBESONIC_KUBECONFIG = `${STATE_DIR}/kubeconfig`;
export const DROPIN_NAME = '90-kubesonic.conf';
/** The local-fallback settings of a migrated unit (migrate writes it from the spec; the agent never touches it). */
export const FALLBACK_DROPIN_NAME = '91-kubesonic-fallback.conf';
/** SONiC's local fallback delay (ctrmgrd's revert_to_local_on_wait_seconds default). */
export const DEFAULT_FALLBACK_SECONDS = 360;
export const KUBESONIC_BIN = '/usr/bin/kubesonic';
/** First line of every host file kubesonic writes: what it finds without it is someone else's. */
export const MARKER = '# Managed by kubesonic';

/** Service-account credentials inside a pod. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/**
 * The switch's own identity (docs/fleet.md): root-only, outside /etc/sonic, which feature
 * containers mount and `show techsupport` gathers.
 */
export const SWITCH_KUBECONFIG = '/etc/kubesonic/switch.kubeconfig';
/**
 * The switch's own identity first, then kubesonic's older credentials, then the kubelet's (kubeadm join and the KubeSonic images). Never
 * SONiC's /etc/sonic/kube_admin.conf: a tool that found nothing else would silently run as
 * cluster-admin. Whoever means it says so with --kubeconfig or $KUBECONFIG.
 */
export const SWITCH_KUBECONFIGS = [SWITCH_KUBECONFIG, KUBESONIC_KUBECONFIG, '/etc/kubernetes/kubelet.conf', '/var/lib/kubelet/kubeconfig'];

/** Run-time state on the switch (tmpfs: gone after a reboot, which is what its readers expect). */
export const RUN_DIR = '/run/kubesonic';
/** memory_checker's TLS session with the API server, kept for its next run (kube/tls-sessions.ts). */
export const TLS_SESSION_DIR = `${RUN_DIR}/tls-sessions`;
/** One file per feature: what the agent last saw of its pod (running|pending|stopped|disabled), read by the unit's ExecStart. */
export const UNIT_STATE_DIR = `${RUN_DIR}/units`;
/** One file per feature whose taint could not follow its hold (API server away): the taint sync retries them. */
export const TAINT_PENDING_DIR = `${RUN_DIR}/taint-pending`;
/** The unit's ExecStart once migrated: a few-MB shell loop over the unit state file, not a Node.js process. */
export const UNIT_WAIT_SCRIPT = `${STATE_DIR}/unit-wait.sh`;

/**
 * V8's code cache of memory_checker's bundle (util/code-cache.ts): regenerable, root's alone, one
 * file per bundle and Node version. The .deb's postrm removes it.
 */
export const CODE_CACHE_DIR = '/var/cache/kubesonic/code-cache';
/** The lean per-node agent (no client-node, no yargs): what runs for as long as features are migrated. */
export const IMAGE_AGENT_BUNDLE = '/opt/kubesonic/kubesonic-agent.mjs';
/** Where the sidecar sees the host's files it manages (hostPath mounts). */
export const HOST_MOUNT = '/host';
/** The sidecar's readiness file (an emptyDir in memory). */
export const SYNC_READY_FILE = '/tmp/kubesonic-sync-ready';

/** The Kubernetes namespace of the feature pods. */
export const FEATURE_NAMESPACE = 'sonic';

/** memory_checker thresholds of SONiC's monit stanzas (monit/), bytes. */
export const MONIT_THRESHOLDS: Readonly<Record<string, number>> = {
  bmp: 838860800,
  snmp: 4294967296,
  telemetry: 419430400,
  gnmi: 419430400,
  otel: 419430400,
};

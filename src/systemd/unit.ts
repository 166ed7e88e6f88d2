// The systemd side of a migrated feature. kubesonic never replaces SONiC's unit file
// (/usr/lib/systemd/system/<f>.service, which the image and systemd-sonic-generator own): it adds a
// drop-in that points the unit's Exec* lines at `kubesonic systemd`. Removing the drop-in is the
// whole rollback of the unit. Per-ASIC instances (<f>@N.service) get the same drop-in in <f>@.service.d.
import { NATIVE_STOPPED_FIELD } from '../feature/state.js';
import { NATIVE_MARK_SUFFIX } from '../host/hold.js';
import type { HostFile } from '../host/files.js';
import {
  DOCKER_SOCKET,
  DROPIN_NAME,
  FALLBACK_DROPIN_NAME,
  HOLD_DIR,
  KUBESONIC_BIN,
  KUBESONIC_KUBECONFIG,
  MARKER,
  REDIS_SOCKET,
  RELOAD_REQUEST,
  TAINT_PENDING_DIR,
  UNIT_DIR,
  UNIT_STATE_DIR,
  UNIT_WAIT_SCRIPT,
  type MigrationVersion,
} from '../sonic/paths.js';

export function dropInPath(feature: string, unitDir = UNIT_DIR): string {
  return `${unitDir}/${feature}.service.d/${DROPIN_NAME}`;
}

/** The drop-in that turns <feature>.service into a proxy for the feature's pod on this node. */
export function stubDropIn(feature: string, opts: { bin?: string; kubeconfig?: string } = {}): string {
  const bin = opts.bin ?? KUBESONIC_BIN;
  const kubeconfig = opts.kubeconfig ?? KUBESONIC_KUBECONFIG;
  return `${MARKER}: ${feature} runs as a Kubernetes DaemonSet pod on this node.
# start = take the host-side hold (${HOLD_DIR}/${feature}) off and wait for the container,
# stop = put the hold on and stop the container through the container runtime (the pod stays; its
# container waits while held), restart = stop + start: the same pod. All work without the API server.
# ExecStart (a small shell loop over ${UNIT_STATE_DIR}/${feature}, which the kubesonic agent keeps)
# lasts as long as the pod, so the unit's state is the pod's.
# Remove this file (kubesonic rollback ${feature}) to give ${feature} back to the image's unit.
[Unit]
Description=${feature} (Kubernetes-managed by kubesonic)

[Service]
Type=simple
User=root
Environment=KUBECONFIG=${kubeconfig}
ExecStartPre=
ExecStartPre=${bin} systemd ${feature} start
ExecStart=
ExecStart=/bin/sh ${UNIT_WAIT_SCRIPT} ${feature}
ExecStop=
ExecStop=${bin} systemd ${feature} stop
ExecReload=${bin} systemd ${feature} restart
TimeoutStartSec=180
TimeoutStopSec=120
`;
}

/**
 * The unit's ExecStart once migrated: reads the unit state file every 2 s (feature/unit-state.ts)
 * and lives as long as the pod, at the cost of one shell (about 1 MiB), not a Node.js process.
 * Exits 0 once the feature is disabled (pod gone, node tainted), 1 once the pod has been gone for
 * the grace time without a disable, 0 on SIGTERM (systemctl stop). No state file (after a reboot)
 * means "not known yet": it keeps waiting, as it does while the API server is away.
 *
 * Local fallback (SONiC's revert_to_local_on_wait_seconds): with no pod from Kubernetes for
 * $KUBESONIC_FALLBACK_SECONDS (the fallback drop-in, fallbackDropIn) — the state unknown or stopped,
 * so never next to a pod that is only slow — no running feature container in the runtime, and
 * CONFIG_DB FEATURE|<f> no_fallback_to_local not exactly "true", it runs the image's own launcher
 * ($KUBESONIC_NATIVE start, then wait) and says so (unit state "local"; STATE_DB current_owner=local).
 * Before the launcher starts anything it puts the native marker on (host/hold.ts, HOLD_DIR/<f>.native),
 * so a pod that comes back meanwhile waits in its wrapper (the pod mounts no Docker socket: the host
 * side does the Docker work). Hand-back: once the agent reports a pod on the node again (pending: its
 * container waits under the marker), the native container is stopped and — only once `docker ps`
 * shows no container named exactly <f> — the marker removed, and the pod's feature starts.
 *
 * The marker is persistent (a reboot during the fallback leaves it): at the shell's start and while in
 * kube mode it is removed once Docker proves that no native container runs. Docker not answering
 * (refused, or stopped and silent: each question has 5 s): it stays, and says why once (never a
 * guess); the loop goes on seeing disables and stops meanwhile. No docker CLI on the host: nothing native can be started
 * (the image's launcher is docker's), so none runs.
 *
 * Intruders: while the pod owns the feature (unit state running or pending), a native container of
 * the feature's exact name that starts anyway (an operator's `docker start`, an old sidecar) is
 * stopped within seconds by a watcher on `docker events`, said in the journal and syslog, and
 * counted in STATE_DB FEATURE|<f> native_stopped_count. No docker CLI on the host: no watcher.
 */
export function unitWaitScript(): string {
  return `${MARKER}: ExecStart of a feature unit that Kubernetes runs (kubesonic).
# usage: sh ${UNIT_WAIT_SCRIPT} <feature> [grace_seconds]
# env: KUBESONIC_FALLBACK_SECONDS (0: no fallback), KUBESONIC_NATIVE (the image's launcher), KUBESONIC_REDIS_SOCKET, KUBESONIC_HOLD_DIR (the native marker's directory)
feature=$1
grace=\${2:-120}
fallback=\${KUBESONIC_FALLBACK_SECONDS:-0}
native=\${KUBESONIC_NATIVE:-}
state_file=\${KUBESONIC_UNIT_STATE_DIR:-${UNIT_STATE_DIR}}/$feature
redis_socket=\${KUBESONIC_REDIS_SOCKET:-${REDIS_SOCKET}}
# The native marker: while it exists the pod's container waits in its wrapper (a native one may run).
mark=\${KUBESONIC_HOLD_DIR:-${HOLD_DIR}}/$feature${NATIVE_MARK_SUFFIX}
mark_said=
gone=0
away=0
away_since=
mode=kube
said=
watcher=
# The watcher dies with the shell: systemd kills the unit's cgroup, but a shell run by hand must
# not leave it behind either (its own TERM trap ends its docker events).
trap '[ -z "$watcher" ] || kill "$watcher" 2>/dev/null' EXIT
trap 'exit 0' TERM INT
say_once() { [ "$said" = "$1" ] || echo "$2"; said=$1; }
# Exactly "true" (SONiC's own reader takes any non-empty string as true: a known bug not copied).
no_fallback() { [ "$(redis-cli -s "$redis_socket" -n 4 hget "FEATURE|$feature" no_fallback_to_local 2>/dev/null)" = true ]; }
# No running container of the feature in the runtime: crictl must answer (no answer: not known, no fallback).
runtime_clear() { ids=$(crictl ps -q --name "^$feature\\$" --state running 2>/dev/null) && [ -z "$ids" ]; }
fall_back() {
  echo "$feature: no pod from Kubernetes for $away s: falling back to the native container ($native start)"
  # The marker before anything native can run: a pod that comes back meanwhile waits in its wrapper.
  if ! { mkdir -p "\${mark%/*}" && echo "native fallback of the unit $(date +%s)" > "$mark"; }; then
    echo "$feature: cannot write the native marker $mark: no fallback; trying again in $fallback s"; away_since=$up; return
  fi
  if ! "$native" start; then echo "$feature: $native start failed; trying again in $fallback s"; away_since=$up; return; fi
  "$native" wait &
  native_wait=$!
  mode=local
  mkdir -p "\${state_file%/*}" && printf 'local %s\\n' "$(date +%s)" > "$state_file.tmp" && mv "$state_file.tmp" "$state_file"
  redis-cli -s "$redis_socket" -n 6 hset "FEATURE|$feature" current_owner local remote_state none >/dev/null 2>&1 || :
}
hand_back() {
  echo "$feature: Kubernetes has a pod for $feature on this node again: stopping the native container ($native stop)"
  "$native" stop
  kill "$native_wait" 2>/dev/null
  mode=kube
  away_since=
  clear_mark
}
# The pod owns the feature (running, or pending in its wrapper): a native container of it is an intruder.
# Never while the state is local (the fallback's own container), unknown, stopped or disabled.
pod_owns() {
  owner=unknown
  if [ -r "$state_file" ]; then read -r owner _ < "$state_file" || owner=unknown; fi
  case $owner in running|pending) return 0 ;; *) return 1 ;; esac
}
# Docker's name filters match substrings (bmp2, xbmp for bmp): only the exact name counts. The docker
# CLI has no time limit of its own: a stopped or hung dockerd gets 5 s, so the loop still sees a
# disable, a stop or the pod (a question not answered is "not known", never "none").
native_names() { timeout 5 docker ps --filter "name=$feature" --format '{{.Names}}' 2>/dev/null; }
native_up() { native_names | grep -qxF -- "$feature"; }
# Proven: Docker answered and lists no container named exactly $feature. No docker CLI, or no socket
# where dockerd listens (a dockerd stopped cleanly removes it): no dockerd, so none runs — the rule
# kubesonic's own Docker client follows. Docker not answering is not "none".
docker_sock=\${DOCKER_HOST:-unix://${DOCKER_SOCKET}}
native_none() {
  command -v docker >/dev/null 2>&1 || return 0
  case $docker_sock in unix://*) [ -e "\${docker_sock#unix://}" ] || return 0 ;; esac
  names=$(native_names) || return 1
  ! printf '%s\\n' "$names" | grep -qxF -- "$feature"
}
# The native marker goes once Docker proves no native container runs; else it stays, said once.
clear_mark() {
  [ -e "$mark" ] || { mark_said=; return 0; }
  if native_none; then
    rm -f "$mark" && echo "$feature: no native $feature container runs (docker ps): removed the native marker $mark; the pod's $feature may start"
    mark_said=
  elif [ -z "$mark_said" ]; then
    echo "$feature: the native marker $mark stays: a native $feature container runs, or Docker does not answer"
    mark_said=1
  fi
}
# Down within 5 s of its start: the event arrives in milliseconds, docker stop kills after 2 s.
stop_intruder() {
  pod_owns && native_up || return 0
  timeout 10 docker stop -t 2 "$feature" >/dev/null 2>&1 || { echo "$feature: a native $feature container $1 while the pod owns $feature (unit state $owner); docker stop failed"; return 0; }
  why="a native $feature container $1 while the pod owns $feature (unit state $owner): stopped it (docker stop -t 2), so the two never run together"
  echo "$feature: $why"
  logger -t kubesonic -p daemon.warning "$feature: $why" 2>/dev/null || :
  redis-cli -s "$redis_socket" -n 6 hincrby "FEATURE|$feature" ${NATIVE_STOPPED_FIELD} 1 >/dev/null 2>&1 || :
}
# An operator's docker start, an old sidecar or a script can start the native container behind the
# pod's back. The watcher, a background subshell, follows dockerd's start events of the feature's
# name; on each (re)start of docker events it also looks once for one already running (started while
# no events were followed). Its cost, per migrated feature while its unit is active: this subshell
# (ps -o rss: 1.2 MiB, mostly shared with the shell) and one blocked docker events process (24 MiB:
# the docker CLI 28.2, a Go binary), measured with the real CLI and dockerd. Docker's own filter
# matches names by substring (xbmp, bmp2 for bmp), so the name is checked again here. No docker on
# PATH: no watcher. docker events ending (dockerd restarted): again after 2 s.
watch_native() {
  fifo_dir=$(mktemp -d "\${TMPDIR:-/tmp}/kubesonic-$feature.XXXXXX") && mkfifo -m 600 "$fifo_dir/events" || return 0
  events=
  trap 'rm -rf "$fifo_dir"' EXIT
  trap '[ -z "$events" ] || kill "$events" 2>/dev/null; exit 0' TERM INT
  while :; do
    # Events since this second are replayed: none is lost between the look and the follow.
    since=$(date +%s)
    stop_intruder "was found running"
    docker events --since "$since" --filter type=container --filter event=start --filter "container=$feature" --format '{{.Actor.Attributes.name}}' > "$fifo_dir/events" 2>/dev/null &
    events=$!
    while read -r name; do
      if [ "$name" = "$feature" ]; then stop_intruder "was started behind the pod's back"; fi
    done < "$fifo_dir/events"
    wait "$events"
    events=
    sleep 2 &
    wait $!
  done
}
if command -v docker >/dev/null 2>&1; then
  watch_native &
  watcher=$!
fi
while :; do
  state=unknown
  if [ -r "$state_file" ]; then read -r state _ < "$state_file" || state=unknown; fi
  # Seconds since boot (monotonic: an NTP step at boot does not shorten the delay).
  read -r up _ < /proc/uptime
  up=\${up%.*}
  if [ "$mode" = local ]; then
    case $state in
      pending|running) hand_back ;;
      *) if ! kill -0 "$native_wait" 2>/dev/null; then echo "$feature: the native container ended"; exit 1; fi ;;
    esac
  else
    clear_mark
    case $state in
      disabled)
        echo "$feature: pod gone and $feature disabled on this node"
        exit 0 ;;
      stopped)
        if [ "$gone" -ge "$grace" ]; then
          echo "$feature: no pod on this node for $grace s and no disable taint"
          exit 1
        fi
        gone=$((gone + 2))
        away_since=\${away_since:-$up} ;;
      running|pending) gone=0; away_since=; said= ;;
      *) gone=0; away_since=\${away_since:-$up} ;;
    esac
    away=$((up - \${away_since:-$up}))
    if [ "$fallback" -gt 0 ] && [ -n "$native" ] && [ "$away" -ge "$fallback" ]; then
      if no_fallback; then
        say_once off "$feature: no pod from Kubernetes for $away s; CONFIG_DB no_fallback_to_local is 'true': staying down"
      elif ! runtime_clear; then
        say_once runtime "$feature: no pod state for $away s, but the container runtime shows a $feature container running (or does not answer): no fallback"
      else
        fall_back
      fi
    fi
  fi
  sleep 2 &
  wait $!
done
`;
}

/** Where the image's own launcher is, from its unit file: SONiC's units start with `ExecStartPre=/usr/bin/<f>.sh start`. */
export function nativeLauncherOf(unitFile: string): string | undefined {
  return /^ExecStartPre=-?(\/\S+) start\s*$/m.exec(unitFile)?.[1];
}

/** The fallback drop-in: the spec's delay and the image's launcher, next to the stub (which the agent keeps generic). */
export function fallbackDropIn(feature: string, fallback: { seconds: number; native: string | undefined }): string {
  const off = fallback.seconds <= 0 || !fallback.native;
  return `${MARKER}: local fallback of ${feature} (kubesonic migrate, from the feature's spec).
# After ${fallback.seconds} s without a pod from Kubernetes the unit runs the image's own container
# (${fallback.native ?? 'no launcher found in the image unit'}); CONFIG_DB FEATURE|${feature} no_fallback_to_local=true turns it off.${off ? '\n# Off here.' : ''}
[Service]
Environment=KUBESONIC_FALLBACK_SECONDS=${off ? 0 : fallback.seconds}
Environment=KUBESONIC_NATIVE=${fallback.native ?? ''}
`;
}

export function fallbackDropInPath(feature: string, unitDir = UNIT_DIR): string {
  return `${unitDir}/${feature}.service.d/${FALLBACK_DROPIN_NAME}`;
}

/** Lets the sidecar (which only has hostPath mounts) ask the host for a daemon-reload. */
export function reloadPathUnit(): { path: string; service: string } {
  return {
    path: `${MARKER}.
[Unit]
Description=kubesonic: reload systemd when a sidecar changed unit drop-ins

[Path]
PathChanged=${RELOAD_REQUEST}

[Install]
WantedBy=multi-user.target
`,
    service: `${MARKER}.
[Unit]
Description=kubesonic: systemctl daemon-reload requested by a sidecar

[Service]
Type=oneshot
ExecStart=/bin/systemctl daemon-reload
`,
  };
}

/**
 * The taint sync: the node's taints follow the host-side holds (pod/verbs.ts followTaints). A stop or
 * start while the API server was away noted its feature in TAINT_PENDING_DIR; every 30 s systemd
 * checks that directory (no process while it is empty) and retries each noted feature.
 */
export function taintSyncUnits(opts: { bin?: string; kubeconfig?: string } = {}): { timer: string; service: string } {
  const bin = opts.bin ?? KUBESONIC_BIN;
  return {
    timer: `${MARKER}.
[Unit]
Description=kubesonic: retry node taints that could not follow a feature's stop or start

[Timer]
OnCalendar=*-*-* *:*:00,30
AccuracySec=5s

[Install]
WantedBy=timers.target
`,
    service: `${MARKER}.
[Unit]
Description=kubesonic: node taints follow the features' host-side holds
ConditionDirectoryNotEmpty=${TAINT_PENDING_DIR}

[Service]
Type=oneshot
Environment=KUBECONFIG=${opts.kubeconfig ?? KUBESONIC_KUBECONFIG}
ExecStart=/bin/sh -c 'for p in ${TAINT_PENDING_DIR}/*; do ${bin} systemd "$\${p##*/}" taint || :; done'
`,
  };
}

/**
 * The host files each migration version wants for a feature: v0 none of kubesonic's (the image's
 * unit runs the native container), v1 and v2 the stub drop-in. The reload units are shared by all
 * features, so a feature going back to v0 leaves them in place.
 */
export function hostPlan(
  feature: string,
  version: MigrationVersion,
  unitDir = UNIT_DIR,
  fallback?: { seconds: number; native: string | undefined },
): HostFile[] {
  if (version === 'v0')
    return [
      { path: dropInPath(feature, unitDir), content: undefined, mode: 0o644 },
      { path: fallbackDropInPath(feature, unitDir), content: undefined, mode: 0o644 },
    ];
  const reload = reloadPathUnit();
  const taints = taintSyncUnits();
  return [
    { path: `${unitDir}/kubesonic-reload.path`, content: reload.path, mode: 0o644 },
    { path: `${unitDir}/kubesonic-reload.service`, content: reload.service, mode: 0o644 },
    { path: `${unitDir}/kubesonic-taints.timer`, content: taints.timer, mode: 0o644 },
    { path: `${unitDir}/kubesonic-taints.service`, content: taints.service, mode: 0o644 },
    { path: UNIT_WAIT_SCRIPT, content: unitWaitScript(), mode: 0o644 },
    ...featurePlan(feature, version, unitDir),
    ...(fallback ? [{ path: fallbackDropInPath(feature, unitDir), content: fallbackDropIn(feature, fallback), mode: 0o644 }] : []),
  ];
}

/**
 * The part of the plan the sidecar keeps: only the feature's own drop-in directory is mounted into
 * its pod, so it cannot touch any other unit (migrate, on the host, installs the shared ones).
 */
export function featurePlan(feature: string, version: MigrationVersion, unitDir = UNIT_DIR): HostFile[] {
  return [{ path: dropInPath(feature, unitDir), content: version === 'v0' ? undefined : stubDropIn(feature), mode: 0o644 }];
}

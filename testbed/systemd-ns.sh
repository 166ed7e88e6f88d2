#!/usr/bin/env bash
# A real systemd as PID 1, in its own pid/mount/cgroup namespaces, on its own root filesystem: an
# overlay whose lower layer is the host's / (read-only through the overlay) and whose upper layer is
# a tmpfs, so nothing it does reaches the host's files. Its cgroup namespace is rooted in a child of
# the host's name=systemd hierarchy, which is the only cgroup tree it can touch. It shares the
# caller's network namespace (run it in the test netns).
#   up | down | reboot | exec CMD... | pid | root
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TEST_ROOT=${KUBESONIC_TEST_ROOT:-/var/lib/kubesonic-test}
B=$TEST_ROOT/systemd
ROOT=$B/root
CG=/sys/fs/cgroup/systemd/kubesonic-test-systemd
PIDFILE=$B/pid

pid() { cat "$PIDFILE" 2>/dev/null; }
running() { [ -n "$(pid)" ] && kill -0 "$(pid)" 2>/dev/null; }

inner() { # runs as PID 1 of the new namespaces
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount --rbind /sys "$ROOT/sys"
  mount -t tmpfs -o mode=755 tmpfs "$ROOT/sys/fs/cgroup"
  mkdir -p "$ROOT/sys/fs/cgroup/systemd"
  mount -t cgroup -o none,name=systemd,xattr cgroup "$ROOT/sys/fs/cgroup/systemd" 2>/dev/null ||
    mount -t cgroup -o none,name=systemd cgroup "$ROOT/sys/fs/cgroup/systemd"
  # The memory hierarchy as the host has it, read-only: memory_checker on this "switch" reads the
  # cgroups of dockerd's and kubelet's containers; systemd here cannot change it.
  mkdir -p "$ROOT/sys/fs/cgroup/memory"
  mount --bind /sys/fs/cgroup/memory "$ROOT/sys/fs/cgroup/memory"
  mount -o remount,bind,ro "$ROOT/sys/fs/cgroup/memory"
  mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
  # The switch's /run/kubesonic is where the node agent (a pod, outside) writes the unit state files.
  mkdir -p "$TEST_ROOT/switch-run/kubesonic" "$ROOT/run/kubesonic"
  mount --bind "$TEST_ROOT/switch-run/kubesonic" "$ROOT/run/kubesonic"
  # The switch's journald sockets (its /dev/log points at /run/systemd/journal/dev-log) on a host
  # directory too, so a pod can log to the switch's syslog (the node agent's syslogSocket hostPath).
  # journald and rsyslog start only where a test starts them (systemctl start in the switch).
  mkdir -p "$TEST_ROOT/switch-run/journal" "$ROOT/run/systemd/journal"
  mount --bind "$TEST_ROOT/switch-run/journal" "$ROOT/run/systemd/journal"
  mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
  # SONiC's Redis socket where a switch has it (redis-cli's, and the unit's fallback, default).
  mkdir -p "$ROOT/run/redis"
  ln -sf "$TEST_ROOT/redis/redis.sock" "$ROOT/run/redis/redis.sock"
  # The kubelet's containerd where a switch has it (/run/containerd): crictl's default endpoint.
  if [ -d /run/kubesonic-containerd ]; then
    mkdir -p "$ROOT/run/containerd"
    mount --bind /run/kubesonic-containerd "$ROOT/run/containerd"
  fi
  mkdir -p "$ROOT$TEST_ROOT" "$ROOT$REPO"
  mount --bind "$TEST_ROOT" "$ROOT$TEST_ROOT"
  mount --bind "$REPO" "$ROOT$REPO"
  export container=kubesonic-test
  exec chroot "$ROOT" /lib/systemd/systemd --unit=kubesonic-test.target --log-target=console --log-level=notice
}

prepare_root() {
  mkdir -p "$B/layers" "$ROOT"
  # No socket of a previous boot's journald left for this boot's services to connect to.
  rm -rf "$TEST_ROOT/switch-run/journal"
  mountpoint -q "$B/layers" || mount -t tmpfs -o mode=755 tmpfs "$B/layers"
  mkdir -p "$B/layers/upper" "$B/layers/work"
  # Shared propagation is fine here: the overlay must be visible to the kubelet's hostPath volumes.
  mountpoint -q "$ROOT" || mount -t overlay overlay -o "lowerdir=/,upperdir=$B/layers/upper,workdir=$B/layers/work" "$ROOT"
  # A boot target of our own: none of the host's enabled services (docker, etcd, redis...) start.
  cat > "$ROOT/etc/systemd/system/kubesonic-test.target" <<'UNIT'
[Unit]
Description=kubesonic test boot target
UNIT
  rm -f "$ROOT/etc/machine-id"; systemd-machine-id-setup --root="$ROOT" >/dev/null 2>&1 || echo 0123456789abcdef0123456789abcdef > "$ROOT/etc/machine-id"
  install -D -m 0644 "$HERE/sonic/bmp.service" "$ROOT/usr/lib/systemd/system/bmp.service"
  install -D -m 0755 "$HERE/sonic/bmp.sh" "$ROOT/usr/local/bin/bmp.sh"
  printf '#!/bin/sh\nexec %s %s/dist/kubesonic.mjs "$@"\n' "$(command -v node)" "$REPO" > "$ROOT/usr/bin/kubesonic"
  chmod 0755 "$ROOT/usr/bin/kubesonic"
  printf '#!/bin/sh\nexec %s %s/dist/memory_checker.mjs "$@"\n' "$(command -v node)" "$REPO" > "$ROOT/usr/bin/memory_checker"
  chmod 0755 "$ROOT/usr/bin/memory_checker"
  # cri-tools, as kubeadm's Debian package installs it (testbed/build.sh built it; cached).
  ln -sf "$(bash "$HERE/build.sh")/crictl" "$ROOT/usr/local/bin/crictl"
  # What deploy/systemd/kubesonic-exporter.service runs (systemd-analyze verify wants it to exist).
  printf '#!/bin/sh\nexec %s %s/dist/kubesonic-exporter.mjs "$@"\n' "$(command -v node)" "$REPO" > "$ROOT/usr/bin/kubesonic-exporter"
  chmod 0755 "$ROOT/usr/bin/kubesonic-exporter"
}

up() {
  running && return 0
  prepare_root
  mkdir -p "$CG"
  # Enter the child cgroup first, then unshare the cgroup namespace: systemd's "/" is that child.
  setsid bash -c "echo \$\$ > '$CG/cgroup.procs' && exec unshare --fork --pid --mount --cgroup --propagation private bash '$HERE/systemd-ns.sh' inner" \
    > "$B/console.log" 2>&1 < /dev/null &
  local launcher=$!
  for _ in $(seq 1 100); do
    local child; child=$(pgrep -P "$(pgrep -P "$launcher" -x unshare || echo "$launcher")" 2>/dev/null | head -1 || true)
    [ -z "$child" ] && child=$(pgrep -P "$launcher" | head -1 || true)
    if [ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then echo "$child" > "$PIDFILE"; break; fi
    sleep 0.1
  done
  running || { echo "systemd did not start; console:" >&2; tail -20 "$B/console.log" >&2; exit 1; }
  for _ in $(seq 1 100); do
    state=$(in_ns systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) return 0 ;; esac
    sleep 0.2
  done
  echo "systemd not ready: $state" >&2
  tail -20 "$B/console.log" >&2
  exit 1
}

in_ns() { nsenter --target "$(pid)" --mount --pid --cgroup --root --wd -- "$@"; }

power_off() { # systemd's poweroff: units stop in order, then every process of the switch ends
  if running; then
    kill -s SIGRTMIN+4 "$(pid)" 2>/dev/null || true # poweroff: stops units in order
    for _ in $(seq 1 100); do running || break; sleep 0.1; done
    if running; then kill -KILL "$(pid)" 2>/dev/null || true; fi
  fi
  rm -f "$PIDFILE"
  for _ in $(seq 1 50); do [ -z "$(cat "$CG/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.1; done
  if [ -d "$CG" ]; then find "$CG" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  rmdir "$CG" 2>/dev/null || true
  if mountpoint -q "$ROOT"; then umount -l "$ROOT" || true; fi
}

down() {
  power_off
  if mountpoint -q "$B/layers"; then umount -l "$B/layers" || true; fi
}

# A power cycle: the switch's processes end, /run starts empty, its disk (the overlay's upper layer:
# /etc/sonic, the unit drop-ins, the hold files) stays.
reboot_switch() {
  power_off
  rm -rf "${TEST_ROOT:?}/switch-run/kubesonic" && mkdir -p "$TEST_ROOT/switch-run/kubesonic"
  up
}

case "${1:-}" in
  inner) inner ;;
  up) up ;;
  down) down ;;
  reboot) reboot_switch ;;
  exec) shift; in_ns "$@" ;;
  pid) pid ;;
  root) echo "$ROOT" ;;
  *) echo "usage: $0 up|down|exec CMD...|pid|root" >&2; exit 1 ;;
esac

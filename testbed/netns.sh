#!/usr/bin/env bash
# The test host: a network namespace of the project's own with loopback and one veth address
# (10.77.0.2) that stands in for the switch's management IP. Every server of the testbed and of the
# system tests runs in it, so nothing listens on the machine's own interfaces.
#   testbed/netns.sh up | down | exec CMD...
set -euo pipefail
NS=${KUBESONIC_NETNS:-kstest}
NODE_IP=${KUBESONIC_NODE_IP:-10.77.0.2}
case "${1:-}" in
  up)
    ip netns list | grep -qw "$NS" || ip netns add "$NS"
    ip -n "$NS" link set lo up
    if ! ip -n "$NS" link show ks0 >/dev/null 2>&1; then
      ip -n "$NS" link add ks0 type veth peer name ks1
      ip -n "$NS" addr add "$NODE_IP/24" dev ks0
      ip -n "$NS" link set ks1 up
      ip -n "$NS" link set ks0 up
      ip -n "$NS" route add default dev ks0
    fi
    ;;
  down)
    ip netns del "$NS" 2>/dev/null || true
    ;;
  exec)
    shift
    # nsenter, not `ip netns exec`: the latter remounts /sys and so hides /sys/fs/cgroup.
    exec nsenter --net="/run/netns/$NS" "$@"
    ;;
  *)
    echo "usage: $0 up|down|exec CMD..." >&2
    exit 1
    ;;
esac

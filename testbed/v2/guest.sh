#!/bin/bash
# Runs inside the guest (started by the baked-in kubesonic-v2-stub): $1 is the read-only payload
# (node, the memory_checker bundle, the checks, the feature image), $2 the results directory.
set -euo pipefail
P=$1
R=$2
stat -fc %T /sys/fs/cgroup >"$R/cgroupfs.type"
for _ in $(seq 120); do docker version >/dev/null 2>&1 && break; sleep 1; done
docker version --format '{{.Server.Version}}' >"$R/docker.version"
docker load -i "$P/feature-image.tar" >"$R/docker-load.log" 2>&1
"$P/node" "$P/guest-checks.mjs" "$P" "$R"

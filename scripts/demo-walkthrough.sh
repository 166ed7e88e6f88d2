#!/usr/bin/env bash
# Runs inside the test netns (scripts/demo.sh). Every service it starts, it stops.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
T=/var/lib/kubesonic-test
SPEC=$REPO/testbed/features/bmp-e2e.yaml
DOCKER_HOST=unix://$T/docker/docker.sock
REDIS_SOCK=$T/redis/redis.sock
mkdir -p "$T/docker" "$T/redis" "$T/feature-control/bmp"
echo 40 > "$T/feature-control/bmp/alloc_mib"
pids=()
cleanup() {
  set +e
  echo; echo "== cleaning up"
  bash "$REPO/testbed/systemd-ns.sh" down
  bash "$REPO/testbed/cluster.sh" down
  docker -H "$DOCKER_HOST" rm -f bmp >/dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  mountpoint -q "$T/docker/data" && umount "$T/docker/data"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sw() { bash "$REPO/testbed/systemd-ns.sh" exec env KUBECONFIG=/etc/sonic/kubesonic/kubeconfig KUBESONIC_REDIS_SOCKET="$REDIS_SOCK" DOCKER_HOST="$DOCKER_HOST" "$@"; }
show() { echo "\$ $*"; sw "$@" || echo "(exit $?)"; }

step "starting the test switch: Kubernetes (etcd, apiserver, controllers, scheduler, containerd, kubelet, metrics-server)"
bash "$REPO/testbed/cluster.sh" up
step "starting dockerd, redis-server and systemd (PID 1 on its own root)"
rm -rf "$T/docker/docker.sock"
dockerd --iptables=false --ip6tables=false --bridge=none --data-root="$T/docker/data" --exec-root=/run/kubesonic-docker \
  --pidfile="$T/docker/dockerd.pid" --host="$DOCKER_HOST" > "$T/docker/demo-dockerd.log" 2>&1 & pids+=($!)
redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 777 --save '' > "$T/redis/demo.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do docker -H "$DOCKER_HOST" version >/dev/null 2>&1 && [ -S "$REDIS_SOCK" ] && break; sleep 0.3; done
docker -H "$DOCKER_HOST" load -i "$T/k8s/images/feature.tar" >/dev/null
redis-cli -s "$REDIS_SOCK" -n 4 HSET 'FEATURE|bmp' auto_restart enabled check_up_status false delayed False has_global_scope True \
  has_per_asic_scope False high_mem_alert disabled set_owner local state enabled support_syslog_rate_limit false >/dev/null
bash "$REPO/testbed/systemd-ns.sh" up
ROOT=$(bash "$REPO/testbed/systemd-ns.sh" root)
mkdir -p "$ROOT/etc/sonic/kubesonic" && cp "$T/k8s/operator.kubeconfig" "$ROOT/etc/sonic/kubesonic/kubeconfig"

step "v0: bmp as SONiC runs it today (bmp.service -> docker container 'bmp')"
show systemctl start bmp.service
show docker ps --filter name=^bmp$ --format '{{.Names}} {{.Status}}'
show memory_checker --json bmp 838860800

step "cluster side, once for the fleet, as a cluster admin: kubesonic cluster apply bmp"
echo "\$ kubesonic cluster apply bmp --kubeconfig admin.kubeconfig"
node "$REPO/dist/kubesonic.mjs" cluster apply bmp --spec "$SPEC" --kubeconfig "$T/k8s/admin.kubeconfig"
echo "# the DaemonSet selects only nodes that opted in (none yet):"
show kubectl get daemonset -n sonic bmp -o jsonpath='{.spec.template.spec.nodeSelector} desired={.status.desiredNumberScheduled}'; echo

step "kubesonic migrate bmp --dry-run"
show kubesonic migrate bmp --spec "$SPEC" --dry-run
step "kubesonic migrate bmp"
show kubesonic migrate bmp --spec "$SPEC"
show kubesonic systemd bmp status
show systemctl status bmp.service --no-pager --lines=0
show memory_checker --json bmp 838860800
show memory_checker bmp 10485760
for _ in $(seq 1 60); do [ "$(redis-cli -s "$REDIS_SOCK" -n 6 HGET 'FEATURE|bmp' current_owner)" = local ] && break; sleep 0.5; done
echo "# the node agent's view of the pod, in STATE_DB (what container_checker and 'show feature status' read):"
show redis-cli -s "$REDIS_SOCK" -n 6 HGETALL 'FEATURE|bmp'

echo "# one node agent serves every migrated feature; the unit's ExecStart is a small shell loop:"
show kubectl get pods -n sonic -o wide
show systemctl show bmp.service --property=ExecStart

step "disable (what featured does for 'config feature state bmp disabled'): systemctl stop bmp"
show redis-cli -s "$REDIS_SOCK" -n 4 HSET 'FEATURE|bmp' state disabled
show systemctl stop bmp.service
show kubectl get node "$(hostname)" -o jsonpath='{.spec.taints}'; echo
show kubesonic systemd bmp status
sleep 2
echo "# kubesonic's own stop never writes CONFIG_DB: the state is the operator's"
show redis-cli -s "$REDIS_SOCK" -n 4 HGET 'FEATURE|bmp' state

step "enable: systemctl start bmp"
show redis-cli -s "$REDIS_SOCK" -n 4 HSET 'FEATURE|bmp' state enabled
show systemctl start bmp.service
show kubesonic systemd bmp status

step "restart in place: systemctl restart bmp (the same pod, restartCount + 1; no newer template)"
cols='custom-columns=POD:.metadata.name,UID:.metadata.uid,RESTARTS:.status.containerStatuses[0].restartCount'
show kubectl get pods -n sonic -l app=bmp -o "$cols"
show systemctl restart bmp.service
show kubectl get pods -n sonic -l app=bmp -o "$cols"

step "disable from the Kubernetes side: kubectl taint node … bmp=disabled:NoSchedule"
show kubectl taint node "$(hostname)" bmp=disabled:NoSchedule
show kubectl delete pod -n sonic -l app=bmp --wait=true
for _ in $(seq 1 60); do [ "$(redis-cli -s "$REDIS_SOCK" -n 4 HGET 'FEATURE|bmp' state)" = disabled ] && break; sleep 0.5; done
echo "# the operator's disable reaches CONFIG_DB, as the seed describes:"
show redis-cli -s "$REDIS_SOCK" -n 4 HGET 'FEATURE|bmp' state
show systemctl stop bmp.service
show kubectl taint node "$(hostname)" bmp=disabled:NoSchedule-
for _ in $(seq 1 60); do [ "$(redis-cli -s "$REDIS_SOCK" -n 4 HGET 'FEATURE|bmp' state)" = enabled ] && break; sleep 0.5; done
show redis-cli -s "$REDIS_SOCK" -n 4 HGET 'FEATURE|bmp' state
show systemctl start bmp.service

step "kubesonic rollback bmp"
show kubesonic rollback bmp --spec "$SPEC"
show docker ps --filter name=^bmp$ --format '{{.Names}} {{.Status}}'
show systemctl show bmp.service --property=ExecStart
show memory_checker --json bmp 838860800
echo "# this switch opted out; the cluster side stays for the others until an admin removes it:"
show kubectl get node "$(hostname)" -o jsonpath='{.metadata.labels}'; echo
step "cluster side: kubesonic cluster remove bmp (refused while a node is opted in; none is now)"
node "$REPO/dist/kubesonic.mjs" cluster remove bmp --spec "$SPEC" --kubeconfig "$T/k8s/admin.kubeconfig"
step "done: the walk-through ran cluster apply -> migrate -> disable -> enable -> rollback -> cluster remove on real parts"

#!/usr/bin/env bash
# A real single-node Kubernetes for the tests: etcd, kube-apiserver (TLS, Node+RBAC), the
# controller manager (DaemonSet, node-lifecycle, taint-eviction ... controllers), the scheduler,
# containerd + runc, a real kubelet (cgroupfs driver, failCgroupV1: false) and metrics-server
# registered as the metrics.k8s.io aggregated API.
#
# Runs inside the test network namespace (testbed/netns.sh exec testbed/cluster.sh up).
#   up | down | start COMPONENT | stop COMPONENT | env
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
STATE=${KUBESONIC_K8S_STATE:-/var/lib/kubesonic-test/k8s}
RUN=/run/kubesonic-k8s
NODE=${KUBESONIC_NODE:-$(hostname | tr '[:upper:]' '[:lower:]')}
NODE_IP=${KUBESONIC_NODE_IP:-10.77.0.2}
PKI=$STATE/pki
LOGS=$STATE/logs
CTRD_STATE=/run/kubesonic-containerd
CTRD_SOCK=$CTRD_STATE/containerd.sock
API=https://127.0.0.1:6443
log() { echo "[testbed/cluster] $*" >&2; }

bin_dir() { bash "$HERE/build.sh"; }

in_netns() {
  ip -br addr show ks0 2>/dev/null | grep -q "$NODE_IP" || {
    echo "testbed/cluster.sh must run in the test network namespace (testbed/netns.sh exec ...)" >&2
    exit 1
  }
}

# ---------------------------------------------------------------- PKI
cert() { # name CN O signer [SANs]
  local name=$1 cn=$2 org=$3 signer=$4 sans=${5:-}
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  local subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org$subj"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } > "$ext"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$signer.crt" -CAkey "$PKI/$signer.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 30 -subj "/CN=$2" 2>/dev/null
}

kubeconfig() { # file user-cert-name [server]
  local file=$1 name=$2 server=${3:-$API}
  cat > "$file" <<KC
apiVersion: v1
kind: Config
current-context: kubesonic
clusters:
- name: kubesonic
  cluster:
    server: $server
    certificate-authority: $PKI/ca.crt
contexts:
- name: kubesonic
  context: {cluster: kubesonic, user: $name}
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
KC
  chmod 600 "$file" # kubesonic's tools refuse a credential group or others can read
}

pki() {
  mkdir -p "$PKI"
  ca ca kubesonic-test-ca
  ca front-proxy-ca kubesonic-front-proxy-ca
  cert apiserver kube-apiserver "" ca "IP:127.0.0.1,IP:$NODE_IP,IP:10.0.0.1,DNS:localhost,DNS:$NODE,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert admin kubesonic-admin system:masters ca
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ca
  cert kcm system:kube-controller-manager "" ca
  cert scheduler system:kube-scheduler "" ca
  cert kubelet "system:node:$NODE" system:nodes ca
  cert kubelet-serving "system:node:$NODE" system:nodes ca "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE"
  cert metrics-server system:metrics-server "" ca "IP:$NODE_IP,DNS:metrics-server.kube-system.svc"
  cert checker kubesonic-memory-checker "" ca
  cert operator kubesonic-operator "" ca
  cert front-proxy-client front-proxy-client "" front-proxy-ca
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  for u in admin kcm scheduler kubelet metrics-server checker operator; do kubeconfig "$STATE/$u.kubeconfig" "$u"; done
}

# ---------------------------------------------------------------- processes
start_proc() { # name cmd...
  local name=$1; shift
  mkdir -p "$RUN" "$LOGS"
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then return 0; fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

stop_proc() { # name
  local name=$1 pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

wait_until() { # what seconds cmd...
  local what=$1 secs=$2; shift 2
  local until=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $until ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.5
  done
}

kc() { kubectl --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

start_etcd() {
  local b; b=$(bin_dir)
  start_proc etcd "$b/etcd" --name default --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  wait_until etcd 60 curl -sf http://127.0.0.1:2381/health
}

start_kube_apiserver() {
  local b; b=$(bin_dir)
  start_proc kube-apiserver "$b/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$NODE_IP" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
    --requestheader-username-headers=X-Remote-User \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true --allow-privileged=true --endpoint-reconciler-type=none --v=1
  wait_until kube-apiserver 120 kc get --raw /readyz
}

start_kube_controller_manager() {
  local b; b=$(bin_dir)
  start_proc kube-controller-manager "$b/kube-controller-manager" \
    --kubeconfig="$STATE/kcm.kubeconfig" --authentication-kubeconfig="$STATE/kcm.kubeconfig" \
    --authorization-kubeconfig="$STATE/kcm.kubeconfig" --bind-address=127.0.0.1 --secure-port=10257 \
    --leader-elect=false --use-service-account-credentials=true \
    --controllers=daemonset-controller,node-lifecycle-controller,taint-eviction-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,endpoints-controller,endpointslice-controller,endpointslice-mirroring-controller \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --node-monitor-grace-period=20s --v=1
}

start_kube_scheduler() {
  local b; b=$(bin_dir)
  start_proc kube-scheduler "$b/kube-scheduler" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --v=1
}

start_containerd() {
  mkdir -p "$STATE/containerd" "$STATE/cni" "$CTRD_STATE"
  cat > "$STATE/cni/10-kubesonic-lo.conflist" <<'CNI'
{ "cniVersion": "0.4.0", "name": "kubesonic-lo", "plugins": [ { "type": "loopback" } ] }
CNI
  cat > "$STATE/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd"
state = "$CTRD_STATE"
[grpc]
  address = "$CTRD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/kubesonic/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = false
  # A plain-HTTP registry on the node's loopback (test/helpers/slow-registry.ts: a slow image pull).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/certs.d"
TOML
  mkdir -p "$STATE/certs.d/127.0.0.1:5555"
  cat > "$STATE/certs.d/127.0.0.1:5555/hosts.toml" <<TOML
server = "http://127.0.0.1:5555"
[host."http://127.0.0.1:5555"]
  capabilities = ["pull", "resolve"]
TOML
  start_proc containerd containerd --config "$STATE/containerd.toml"
  wait_until containerd 60 ctr --address "$CTRD_SOCK" version
  node "$REPO/dist/testbed.mjs" images "$STATE/images" "$(bin_dir)" >/dev/null
  for img in pause feature feature-supervisord sidecar; do
    ctr --address "$CTRD_SOCK" -n k8s.io images import "$STATE/images/$img.tar" >/dev/null
  done
}

start_kubelet() {
  local b; b=$(bin_dir)
  mkdir -p "$STATE/kubelet"
  cat > "$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CTRD_SOCK
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
oomScoreAdj: 0
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: Webhook}
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
serializeImagePulls: false
YAML
  start_proc kubelet "$b/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
  # After a reboot with the API server away the node cannot report Ready: wait for the kubelet only.
  if [ -n "${KUBELET_NO_READY_WAIT:-}" ]; then
    wait_until "kubelet healthz" 60 curl -sf http://127.0.0.1:10248/healthz
    return
  fi
  wait_until "node $NODE Ready" 120 sh -c "kubectl --kubeconfig '$STATE/admin.kubeconfig' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

start_metrics_server() {
  local b; b=$(bin_dir)
  local ca; ca=$(base64 -w0 < "$PKI/ca.crt")
  sed -e "s/@CA_BUNDLE@/$ca/" -e "s/@NODE_IP@/$NODE_IP/" "$HERE/manifests/metrics-server.yaml" | kc apply -f - >/dev/null
  start_proc metrics-server "$b/metrics-server" --secure-port=4443 --bind-address="$NODE_IP" \
    --kubeconfig="$STATE/metrics-server.kubeconfig" --authentication-kubeconfig="$STATE/metrics-server.kubeconfig" \
    --authorization-kubeconfig="$STATE/metrics-server.kubeconfig" \
    --tls-cert-file="$PKI/metrics-server.crt" --tls-private-key-file="$PKI/metrics-server.key" \
    --kubelet-insecure-tls --kubelet-preferred-address-types=InternalIP --metric-resolution=10s --kubelet-request-timeout=5s --v=1
  wait_until metrics.k8s.io 120 kc get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$NODE"
}

KERNEL_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

up() {
  in_netns
  local t0=$SECONDS
  down_quiet
  mkdir -p "$STATE" "$LOGS"
  [ -f "$STATE/sysctl.saved" ] || sysctl -n "${KERNEL_SYSCTLS[@]}" > "$STATE/sysctl.saved"
  pki
  start_etcd
  start_kube_apiserver
  kc apply -f "$HERE/manifests/cluster-rbac.yaml" -f "$REPO/deploy/rbac/memory-checker.yaml" -f "$REPO/deploy/rbac/operator.yaml" >/dev/null
  start_kube_controller_manager
  start_kube_scheduler
  start_containerd
  start_kubelet
  start_metrics_server
  kc get namespace sonic >/dev/null 2>&1 || kc create namespace sonic >/dev/null
  wait_until "default ServiceAccount in sonic" 60 kc -n sonic get serviceaccount default
  log "up in $((SECONDS - t0)) s: node $NODE ($NODE_IP), kubeconfig $STATE/admin.kubeconfig"
}

# After an API server restart, the controller manager and the scheduler start afresh too. That is
# what a real control plane does: there both run with leader election, lose their lease when the API
# server is away past the renew deadline (10 s), exit, and the kubelet starts them again; here they
# run without it (one of each). Seen on this testbed when they lived through a restart: their watches
# refused while the new API server's RBAC was not loaded yet (403), then caches minutes stale — the
# DaemonSet controller's "read version … is not as new as written version" — a new DaemonSet left at
# desired=0 on a labelled node, and a deleted DaemonSet's pod never collected. The tests stop the API
# server to see what the switch does without it, not what a lagging controller manager does after.
restart_controllers() {
  stop_proc kube-scheduler
  stop_proc kube-controller-manager
  start_kube_controller_manager
  start_kube_scheduler
  wait_until kube-controller-manager 60 curl -sfk https://127.0.0.1:10257/healthz
  wait_until kube-scheduler 60 curl -sfk https://127.0.0.1:10259/healthz
}

kill_pod_processes() {
  # kubelet's containers outlive containerd (their shims are detached): stop them by task.
  if [ -S "$CTRD_SOCK" ]; then
    for t in $(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$CTRD_SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
    sleep 1
    for t in $(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$CTRD_SOCK" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true
    done
  fi
  pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io .*-address $CTRD_SOCK" 2>/dev/null || true
}

down_quiet() {
  stop_proc metrics-server
  stop_proc kubelet
  kill_pod_processes
  stop_proc containerd
  for c in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_proc "$c"; done
  # kubelet's tmpfs volumes must go before the tree does.
  if [ -d "$STATE/kubelet" ]; then
    { grep -o " $STATE/kubelet[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  { grep -o " ${CTRD_STATE}[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  if [ -f "$STATE/sysctl.saved" ]; then
    paste -d= <(printf '%s\n' "${KERNEL_SYSCTLS[@]}") "$STATE/sysctl.saved" | while read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done
    rm -f "$STATE/sysctl.saved"
  fi
  rm -rf "$STATE/etcd" "$STATE/kubelet" "$STATE/containerd" "$CTRD_STATE" "$RUN"
}

# A reboot of the node as the kubelet sees it: every pod process ends, containerd and the kubelet
# start again. The control plane is left as it is (a test stops the API server first to reboot offline).
reboot_node() {
  stop_proc kubelet
  kill_pod_processes
  stop_proc containerd
  start_containerd
  KUBELET_NO_READY_WAIT=1 start_kubelet
}

case "${1:-}" in
  up) up ;;
  reboot-node) in_netns; reboot_node ;;
  down) down_quiet; log "down" ;;
  start)
    in_netns
    "start_${2//-/_}"
    if [ "$2" = kube-apiserver ]; then restart_controllers; fi
    ;;
  stop) stop_proc "$2" ;;
  env) echo "KUBECONFIG=$STATE/admin.kubeconfig"; echo "KUBESONIC_CONTAINERD_STATE=$CTRD_STATE"; echo "NODE_NAME=$NODE" ;;
  *) echo "usage: $0 up|down|reboot-node|start COMPONENT|stop COMPONENT|env" >&2; exit 1 ;;
esac

#!/usr/bin/env bash
# Builds the real Kubernetes components the tests run against, from the Go module proxy only,
# and caches them by version so a second run is a no-op.
#
# Why v1.36.3: it is the newest patch release whose staging modules (k8s.io/*@v0.36.3) the proxy
# serves, it still runs on cgroup v1 with failCgroupV1=false, and metrics-server v0.9.0 is built
# against the same k8s.io/* minor. 1.37 would force etcd 3.7 and 1.38 needs a newer Go.
set -euo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/images

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.9.0}
# The etcd minor kubeadm pairs with Kubernetes 1.36 (Debian's 3.4.23 is past its end of support).
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
# crictl: what kubesonic runs on the switch to restart a feature container in place (kubeadm's Debian
# package depends on cri-tools, so Kubernetes-enabled SONiC images carry it).
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
CACHE_ROOT=${KUBESONIC_CACHE:-/var/cache/kubesonic}
OUT="$CACHE_ROOT/k8s-$KUBE_VERSION-ms-$METRICS_SERVER_VERSION"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
KUBE_MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)

# The small test programs are keyed by the hash of their sources, so editing one rebuilds it.
TOOLS_KEY=$(cat "$SRC_DIR"/*/main.go | sha256sum | cut -c1-12)
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
have() { for b in "$@"; do [ -x "$OUT/$b" ] || return 1; done; }
tools_ok() { have pause memhog && [ "$(cat "$OUT/tools.key" 2>/dev/null)" = "$TOOLS_KEY" ]; }
etcd_ok() { have etcd && [ "$(cat "$OUT/etcd.version" 2>/dev/null)" = "$ETCD_VERSION" ]; }
crictl_ok() { have crictl && [ "$(cat "$OUT/crictl.version" 2>/dev/null)" = "$CRI_TOOLS_VERSION" ]; }
if have "${k8s_bins[@]}" metrics-server && etcd_ok && tools_ok && crictl_ok; then echo "$OUT"; exit 0; fi

mkdir -p "$OUT"
work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
log() { echo "[testbed/build] $*" >&2; }

# write_tools_go IMPORT...: a tools.go that imports the packages to build, so `go mod tidy` resolves
# and pins every module they need.
write_tools_go() {
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    printf '\t_ "%s"\n' "$@"
    printf ')\n'
  } > tools.go
}

# static_build OUTPUT EXTRA_LDFLAGS PKG...: a static, stripped binary in $work/bin (OUTPUT empty: one
# binary per package, named by go build).
static_build() {
  local output=$1 extra_ldflags=$2; shift 2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w${extra_ldflags:+ $extra_ldflags}" -o "$work/bin/$output" "$@"
}

# Binaries wait in $work/bin until their whole group built, so the cache never holds half a group.
move_into_cache() { mv "$work/bin/"* "$OUT/"; }

# build_tools_module NAME OUTPUT EXTRA_LDFLAGS PREPARE PKG...: builds PKG... from a module of our own,
# $work/NAME (example.invalid/NAMEbin), whose tools.go imports them. PREPARE is a function run in that
# module before `go mod tidy`, to pin versions.
build_tools_module() {
  local name=$1 output=$2 extra_ldflags=$3 prepare=$4; shift 4
  mkdir -p "$work/$name" && cd "$work/$name"
  go mod init "example.invalid/${name}bin" >/dev/null 2>&1
  write_tools_go "$@"
  "$prepare"
  go mod tidy >/dev/null
  static_build "$output" "$extra_ldflags" "$@"
  move_into_cache
}

# --- Kubernetes: k8s.io/kubernetes has replace directives to ./staging, which a dependent module
# cannot use, so ours pins every staging module to its published version instead.
pin_kubernetes() {
  go mod edit -require=k8s.io/kubernetes@"$KUBE_VERSION"
  local gomod godir godebug m
  gomod=$(go mod download -json k8s.io/kubernetes@"$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  godir=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod" | head -1)
  godebug=$(sed -n 's/^godebug \(.*\)/\1/p' "$gomod" | head -1)
  go mod edit -go="$godir"
  if [ -n "$godebug" ]; then go mod edit -godebug="$godebug"; fi
  while read -r m; do
    go mod edit -replace="$m=$m@$STAGING_VERSION"
  done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod")
  log "resolving k8s.io/kubernetes@$KUBE_VERSION modules"
}
if ! have "${k8s_bins[@]}"; then
  ldv="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ldv="$ldv -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR -X k8s.io/component-base/version.gitTreeState=clean"
  ldv="$ldv -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
  ldv="$ldv -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
  ldv="$ldv -X k8s.io/client-go/pkg/version.gitMinor=$KUBE_MINOR"
  log "building kube-apiserver kube-controller-manager kube-scheduler kubelet (a cold build of everything here takes about 7 min on 2 cores)"
  build_tools_module k8s "" "$ldv" pin_kubernetes \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
fi

# --- metrics-server: its own module so its k8s.io/* pins never fight the ones above.
require_metrics_server() { go mod edit -require=sigs.k8s.io/metrics-server@"$METRICS_SERVER_VERSION"; }
if ! have metrics-server; then
  log "building metrics-server $METRICS_SERVER_VERSION"
  build_tools_module ms "" "" require_metrics_server sigs.k8s.io/metrics-server/cmd/metrics-server
fi

# --- etcd: its server module keeps relative replaces, so it too is built from a tools module. go build
# would name the binary after its package (server), so it is named here.
get_etcd() { go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" >/dev/null 2>&1; }
if ! etcd_ok; then
  log "building etcd $ETCD_VERSION"
  build_tools_module etcd etcd "" get_etcd go.etcd.io/etcd/server/v3
  echo "$ETCD_VERSION" > "$OUT/etcd.version"
fi

# --- crictl, from its own module (cri-tools pins its own k8s.io/* versions).
require_cri_tools() { go mod edit -require=sigs.k8s.io/cri-tools@"$CRI_TOOLS_VERSION"; }
if ! crictl_ok; then
  log "building crictl $CRI_TOOLS_VERSION"
  build_tools_module crictl crictl "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" require_cri_tools \
    sigs.k8s.io/cri-tools/cmd/crictl
  echo "$CRI_TOOLS_VERSION" > "$OUT/crictl.version"
fi

# --- pause and the feature image's process: tiny static Go programs (no registry to pull from).
if ! tools_ok; then
  for prog in pause memhog; do
    mkdir -p "$work/$prog" && cp "$SRC_DIR/$prog/main.go" "$work/$prog/" && cd "$work/$prog"
    go mod init "example.invalid/$prog" >/dev/null 2>&1
    static_build "$prog" "" .
  done
  move_into_cache
  echo "$TOOLS_KEY" > "$OUT/tools.key"
fi
log "cached in $OUT"
echo "$OUT"

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
if have "${k8s_bins[@]}" metrics-server && etcd_ok && tools_ok; then echo "$OUT"; exit 0; fi

mkdir -p "$OUT"
work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
log() { echo "[testbed/build] $*" >&2; }

# --- Kubernetes: a tools module of our own that pins every staging module (k8s.io/kubernetes has replace directives).
if ! have "${k8s_bins[@]}"; then
mkdir -p "$work/k8s" && cd "$work/k8s"
go mod init example.invalid/k8sbin >/dev/null 2>&1
go mod edit -require=k8s.io/kubernetes@"$KUBE_VERSION"
gomod=$(go mod download -json k8s.io/kubernetes@"$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
godir=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod" | head -1)
godebug=$(sed -n 's/^godebug \(.*\)/\1/p' "$gomod" | head -1)
go mod edit -go="$godir"
[ -n "$godebug" ] && go mod edit -godebug="$godebug"
for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod"); do
  go mod edit -replace="$m=$m@$STAGING_VERSION"
done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
log "resolving k8s.io/kubernetes@$KUBE_VERSION modules"
go mod tidy >/dev/null
ldv="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
ldv="$ldv -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR -X k8s.io/component-base/version.gitTreeState=clean"
ldv="$ldv -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
ldv="$ldv -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
ldv="$ldv -X k8s.io/client-go/pkg/version.gitMinor=$KUBE_MINOR"
log "building kube-apiserver kube-controller-manager kube-scheduler kubelet (a cold build of everything here takes about 7 min on 2 cores)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldv" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
mv "$work/bin/"* "$OUT/"
fi

# --- metrics-server: its own module so its k8s.io/* pins never fight the ones above.
if ! have metrics-server; then
mkdir -p "$work/ms" && cd "$work/ms"
go mod init example.invalid/msbin >/dev/null 2>&1
go mod edit -require=sigs.k8s.io/metrics-server@"$METRICS_SERVER_VERSION"
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
GO
log "building metrics-server $METRICS_SERVER_VERSION"
go mod tidy >/dev/null
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/" sigs.k8s.io/metrics-server/cmd/metrics-server
mv "$work/bin/"* "$OUT/"
fi

# --- etcd: its server module keeps relative replaces, so it too is built from a tools module.
if ! etcd_ok; then
mkdir -p "$work/etcd" && cd "$work/etcd"
go mod init example.invalid/etcdbin >/dev/null 2>&1
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
log "building etcd $ETCD_VERSION"
go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" >/dev/null 2>&1
go mod tidy >/dev/null
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3
mv "$work/bin/"* "$OUT/"
echo "$ETCD_VERSION" > "$OUT/etcd.version"
fi

# --- pause and the feature image's process: tiny static Go programs (no registry to pull from).
if ! tools_ok; then
for prog in pause memhog; do
  mkdir -p "$work/$prog" && cp "$SRC_DIR/$prog/main.go" "$work/$prog/" && cd "$work/$prog"
  go mod init "example.invalid/$prog" >/dev/null 2>&1
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/$prog" .
done

mv "$work/bin/"* "$OUT/"
echo "$TOOLS_KEY" > "$OUT/tools.key"
fi
log "cached in $OUT"
echo "$OUT"

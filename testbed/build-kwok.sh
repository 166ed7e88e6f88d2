#!/usr/bin/env bash
# Builds kwok (sigs.k8s.io/kwok: simulated nodes and pods for the fleet benchmark, bench/fleet.mjs)
# from the Go module proxy and caches it by version with its stages (stages.yaml next to it); prints
# the binary's path. A second run is a no-op.
set -euo pipefail
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CACHE_ROOT=${KUBESONIC_CACHE:-/var/cache/kubesonic}
OUT="$CACHE_ROOT/kwok-$KWOK_VERSION"
# kwok's own stages (kustomize/stage in its module: nodes become Ready and keep their leases, pods
# become Ready), read from the Go module cache at run time as kwok's docs apply them; not copied
# into this project.
stages() {
  local dir
  dir=$(go mod download -json sigs.k8s.io/kwok@"$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$dir/kustomize/stage/$f"; echo '---'
  done > "$OUT/stages.yaml.tmp"
  mv "$OUT/stages.yaml.tmp" "$OUT/stages.yaml"
}
if [ -x "$OUT/kwok" ]; then
  [ -s "$OUT/stages.yaml" ] || stages
  echo "$OUT/kwok"; exit 0
fi
mkdir -p "$OUT"
work=$(mktemp -d "$CACHE_ROOT/build-kwok.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "[testbed/build-kwok] building kwok $KWOK_VERSION (about 3 min on 2 cores)" >&2
cd "$work"
# A module of our own whose tools.go imports kwok's command: `go mod tidy` pins what it needs.
printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' > tools.go
go mod init example.invalid/kwokbin >/dev/null 2>&1
go mod edit -require=sigs.k8s.io/kwok@"$KWOK_VERSION"
go mod tidy >/dev/null 2>&1
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/kwok" sigs.k8s.io/kwok/cmd/kwok
mv "$work/kwok" "$OUT/kwok"
stages
echo "$OUT/kwok"

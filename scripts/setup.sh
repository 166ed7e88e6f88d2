#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs for the demo and the tests: Debian packages, npm
# dependencies, the bundled CLIs, and the Kubernetes testbed binaries (built once, cached by version).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(redis-server monit prometheus containerd runc docker.io containernetworking-plugins
  busybox-static iproute2 openssl curl procps psmisc util-linux systemd debootstrap hyperfine shellcheck
  qemu-system-x86 e2fsprogs mmdebstrap lintian wrk rsyslog)
missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian starts some of these as services on install; the tests start their own instances.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Services the packages may have started on install would only compete with the tests' own
# instances: stop them through their init scripts (pid files), never by name.
if [ ${#missing[@]} -gt 0 ]; then
  for svc in redis-server monit prometheus containerd docker rsyslog; do
    service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
bash testbed/build.sh >/dev/null
# The Debian roots the testbed's images are built on (cached by recipe): mmdebstrap needs Debian's
# mirror, which the test network namespace cannot reach, so they are built here, before it.
bash packaging/debian-root.sh trixie nodejs >/dev/null
bash packaging/debian-root.sh trixie supervisor procps >/dev/null

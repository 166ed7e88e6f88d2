#!/usr/bin/env bash
# A minimal Debian root (mmdebstrap minbase) as a tarball, cached under /var/cache/kubesonic by a
# hash of its recipe (suite, mirror, packages, this script), so only the first run downloads.
# Prints the tarball's path. Used by the .deb install test and the sidecar image build.
#   packaging/debian-root.sh SUITE [PACKAGE...]
# Only Debian's own archive is used (not the host's sources.list): mmdebstrap writes its own
# apt configuration inside the root, so a trixie root needs no change to this machine's apt.
set -euo pipefail
suite=${1:?usage: debian-root.sh SUITE [PACKAGE...]}
shift
mirror=${KUBESONIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
cache=/var/cache/kubesonic/debian-roots
recipe=$(printf '%s\n%s\n%s\n' "$suite" "$mirror" "$packages"; cat "$0")
hash=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
out="$cache/$suite-$hash.tar"
if [ ! -s "$out" ]; then
  mkdir -p "$cache"
  # shellcheck disable=SC2016 # $1 is the root mmdebstrap hands the hook, not ours to expand
  drop_caches='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
  # Reproducible: SOURCE_DATE_EPOCH fixes mtimes and mmdebstrap sorts the tarball; apt lists and
  # caches are dropped (they are only a download's by-products).
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} mmdebstrap --quiet --variant=minbase \
    ${packages:+--include="$packages"} \
    --aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook="$drop_caches" \
    "$suite" "$cache/.$suite-$hash.tmp.tar" "$mirror" >&2
  mv "$cache/.$suite-$hash.tmp.tar" "$out"
fi
echo "$out"

#!/usr/bin/env bash
# Builds the cgroup v2 lane's guest: a Debian bookworm root filesystem (systemd, docker.io, the
# Debian kernel and an initramfs made inside the chroot) packed into an ext4 image with
# `mkfs.ext4 -d` (no loop mounts), plus the kernel and initrd to boot it with qemu -kernel.
#
# Cached under $CACHE_ROOT/v2-guest/<sha256 of the recipe> (this script and testbed/v2/rootfs/*):
# editing the recipe builds a new guest, a second run prints the cached directory at once.
# Prints the cache directory on stdout; progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${KUBESONIC_CACHE:-/var/cache/kubesonic}
MIRROR=${KUBESONIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,udev,dbus,docker.io,iproute2,kmod,busybox-static,procps,libstdc++6,linux-image-amd64,initramfs-tools

KEY=$(cat "$HERE/build-guest.sh" "$HERE"/rootfs/* | sha256sum | cut -d' ' -f1)
OUT="$CACHE_ROOT/v2-guest/$KEY"
log() { echo "[v2/build-guest] $*" >&2; }
if [ -f "$OUT/ready" ]; then echo "$OUT"; exit 0; fi

mkdir -p "$CACHE_ROOT/v2-guest/debs"
work=$(mktemp -d "$CACHE_ROOT/v2-guest/build.XXXXXX")
root="$work/root"
cleanup() {
  # debootstrap mounts proc/sys inside the target; unmount only what lies under our own target.
  if [ -d "$root" ]; then
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$root/" | sort -r || true); do umount -l "$m" || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)

log "debootstrap $SUITE (minbase + systemd, docker.io, the kernel) into $root"
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE_ROOT/v2-guest/debs" \
  "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort -V | tail -1)
kver=${kernel#vmlinuz-}
[ -n "$kver" ] || { log "no kernel in $root/boot"; exit 1; }
if [ ! -f "$root/boot/initrd.img-$kver" ]; then
  log "building the initramfs for $kver in the chroot"
  chroot "$root" update-initramfs -c -k "$kver" >&2
fi
for opt in CONFIG_VIRTIO_BLK CONFIG_EXT4_FS CONFIG_MEMCG; do
  log "kernel $kver: $(grep "^$opt=" "$root/boot/config-$kver" || echo "$opt unset")"
done

log "configuring the guest"
echo v2guest >"$root/etc/hostname"
printf '/dev/vda / ext4 rw 0 1\n' >"$root/etc/fstab"
mkdir -p "$root/etc/docker"
install -m 0644 "$HERE/rootfs/daemon.json" "$root/etc/docker/daemon.json"
install -m 0755 "$HERE/rootfs/kubesonic-v2-stub" "$root/usr/local/sbin/kubesonic-v2-stub"
install -m 0644 "$HERE/rootfs/kubesonic-v2.service" "$root/etc/systemd/system/kubesonic-v2.service"
chroot "$root" systemctl enable docker.service kubesonic-v2.service >/dev/null 2>&1
# Nothing else of a normal boot is wanted: timers that would wake up during the checks.
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/out/initrd.img"
echo "$kver" >"$work/out/kernel.version"
size_mib=$(( $(du -sm "$root" | cut -f1) + 1536 ))
log "packing ${size_mib} MiB ext4 image (mkfs.ext4 -d)"
mkfs.ext4 -q -F -L v2root -d "$root" "$work/out/rootfs.ext4" "${size_mib}M" >&2
echo "$(( $(date +%s) - started ))" >"$work/out/build.seconds"
touch "$work/out/ready"
rm -rf "$OUT"
mv "$work/out" "$OUT"
log "guest cached in $OUT ($(cat "$OUT/build.seconds") s, kernel $kver)"
echo "$OUT"

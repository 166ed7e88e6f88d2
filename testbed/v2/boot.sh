#!/usr/bin/env bash
# Boots the cgroup v2 guest once under qemu (software emulation, one vCPU) and collects what it
# reported. The guest's root filesystem is the cached image, opened with snapshot=on so it is
# never changed; the payload directory goes in as a second, read-only ext4 disk; the guest writes
# a tar of its results onto a third, raw disk, extracted here into OUT/results.
#   boot.sh GUEST_DIR PAYLOAD_DIR OUT_DIR
# Exit 0 once the guest finished its run (OUT/results then holds results.json, guest.log,
# journal.txt); exit 1 when it did not boot or finish within the time limit, twice.
set -euo pipefail
guest=$1
payload=$2
out=$3
TIMEOUT=${KUBESONIC_V2_TIMEOUT:-360}
log() { echo "[v2/boot] $*" >&2; }
mkdir -p "$out"
rm -f "$out"/serial-*.log "$out/boots.log"

size=$(( $(du -sm "$payload" | cut -f1) + 64 ))
mkfs.ext4 -q -F -L v2payload -d "$payload" "$out/payload.ext4" "${size}M" >&2

for attempt in 1 2; do
  rm -rf "$out/results" "$out/results.img"
  mkdir -p "$out/results"
  truncate -s 64M "$out/results.img"
  serial="$out/serial-$attempt.log"
  started=$(date +%s)
  rc=0
  # KVM is there but its guests hang on this machine: tcg. -smp 2 stalled in early boot about one
  # boot in seven; -smp 1 has not.
  timeout --kill-after=15 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg -cpu max -smp 1 -m 1024 \
    -display none -monitor none -no-reboot -nic none -serial "file:$serial" \
    -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw rootfstype=ext4 systemd.unified_cgroup_hierarchy=1 apparmor=0 panic=1" \
    -drive "file=$guest/rootfs.ext4,format=raw,if=virtio,snapshot=on" \
    -drive "file=$out/payload.ext4,format=raw,if=virtio,readonly=on" \
    -drive "file=$out/results.img,format=raw,if=virtio" </dev/null || rc=$?
  secs=$(( $(date +%s) - started ))
  echo "attempt=$attempt qemu_exit=$rc seconds=$secs" >>"$out/boots.log"
  if grep -q 'KUBESONIC-V2-DONE' "$serial"; then
    tar -xf "$out/results.img" -C "$out/results" || log "results disk holds no readable tar"
    log "attempt $attempt: guest ran its checks and powered off in ${secs} s ($(grep -o 'KUBESONIC-V2-DONE.*' "$serial" | head -1))"
    exit 0
  fi
  log "attempt $attempt: the guest did not finish (qemu exit $rc after ${secs} s); serial console tail:"
  tail -n 25 "$serial" >&2 || true
done
log "the guest did not boot and finish twice: failing"
exit 1

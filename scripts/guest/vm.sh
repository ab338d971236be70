#!/usr/bin/env bash
# kernel-run's QEMU backend: boots Debian's stock kernel (linux-image-amd64) in a micro-VM with no
# network device, this machine's / as its root over virtio-9p and scripts/guest/inside.sh as its
# PID 1, for the job in JOB. KVM when the CPU offers vmx/svm and /dev/kvm is usable, else QEMU's
# emulation (TCG): the /dev/kvm of nested PVM hosts runs no stock kernel.
#   usage: scripts/guest/vm.sh JOB MEM
#   env:   KERNEL_RUN_ACCEL=kvm|tcg to choose
# Writes JOB/console (the serial console); JOB/why and exit 3 when something it needs is missing.
set -euo pipefail
job=$1 mem=$2
here=$(cd "$(dirname "$0")" && pwd)
missing() { echo "$*" > "$job/why"; exit 3; }
command -v qemu-system-x86_64 >/dev/null || missing "QEMU is not installed (apt-get install qemu-system-x86)"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
  missing "no static busybox for the VM's initramfs (apt-get install busybox-static)"
kver=
for v in $(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V); do
  [ -e "/lib/modules/$v/kernel/fs/9p/9p.ko" ] && kver=$v   # the newest with the 9p client
done
[ -n "$kver" ] || missing "no kernel with 9p modules in /boot (apt-get install linux-image-amd64)"

accel=${KERNEL_RUN_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
case "$accel" in kvm) cpu=host ;; tcg) cpu=max ;; *) missing "KERNEL_RUN_ACCEL is kvm or tcg, not $accel" ;; esac
echo "kernel-run: QEMU ($accel) on kernel $kver" >> "$job/console"

# Built once per kernel and per checksum of this script, each atomically (a rename):
# - the kernel as an uncompressed ELF: QEMU starts it at its PVH entry, which spares the real-mode
#   setup and the decompressor (seconds under emulation); the bzImage is the fallback;
# - an initramfs with busybox and the modules that reach the 9p root, whose /init mounts it and
#   hands over to inside.sh there.
cache=/var/tmp/patchcord-guest-cache
mkdir -p "$cache"
kernel=$cache/vmlinux-$kver
if [ ! -s "$kernel" ]; then
  at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$kver" | head -1 | cut -d: -f1 || true)
  if [ -n "$at" ] && { tail -c +$((at + 1)) "/boot/vmlinuz-$kver" || true; } | xz -dcq --single-stream > "$kernel.$$" 2>/dev/null &&
     [ "$(head -c 4 "$kernel.$$" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    mv -f "$kernel.$$" "$kernel"
  else
    rm -f "$kernel.$$"
    kernel=/boot/vmlinuz-$kver
  fi
fi
initrd=$cache/initrd-$kver-$(cat "$0" "$here/inside.sh" | cksum | cut -d' ' -f1).cpio
if [ ! -s "$initrd" ]; then
  tree=$(mktemp -d "$cache/initrd.XXXXXX")
  mkdir -p "$tree/bin" "$tree/proc" "$tree/root"
  cp "$busybox" "$tree/bin/busybox"
  # The 9p root's modules, then the tests' (loading them from RAM spares seconds of 9p reads).
  wanted=$(sed -n 's/^guest_modules="\(.*\)"$/\1/p' "$here/inside.sh")
  for m in virtio_pci virtio_console 9pnet_virtio 9p $wanted; do
    modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$tree/"
    case "$ko" in */dummy.ko) echo "dummy.ko numdummies=0" ;; *) basename "$ko" ;; esac
  done > "$tree/modules"
  cat > "$tree/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
while read -r ko opts; do insmod "/$ko" $opts || echo "kernel-run initramfs: insmod $ko failed"; done < /modules
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /root; then
  echo "kernel-run initramfs: mounting the host's / over 9p failed"; poweroff -f
fi
umount /proc
exec switch_root /root /bin/bash "$pcg_job/init"
INIT
  chmod +x "$tree/init"
  (cd "$tree" && find . | "$busybox" cpio -o -H newc 2>/dev/null) > "$tree.cpio"
  mv -f "$tree.cpio" "$initrd"
  rm -rf "$tree"
  # Others' initrds go once unused for an hour (another checkout may be booting one right now).
  find "$cache" -maxdepth 1 -name 'initrd-*.cpio' ! -path "$initrd" -mmin +60 -delete
fi
touch "$initrd"   # in use

# stdout and stderr travel over two virtio-serial ports into FIFOs that a cat each copies to ours.
# The cats open their FIFO first (they wait for QEMU to open it), and QEMU dies with this script.
mkfifo "$job/out" "$job/err"
cat "$job/out" & c1=$!
cat "$job/err" >&2 & c2=$!
qemu=0
setpriv --pdeathsig KILL qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot -nic none \
  -machine pc,accel="$accel" -cpu "$cpu" -smp "$(nproc)" -m "$mem" \
  -kernel "$kernel" -initrd "$initrd" -serial "file:$job/console.serial" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init pcg_job=$job pcg_kind=vm" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap \
  -device virtio-serial-pci \
  -chardev "file,id=out,path=$job/out" -device virtserialport,chardev=out,name=guest.out \
  -chardev "file,id=err,path=$job/err" -device virtserialport,chardev=err,name=guest.err \
  </dev/null >>"$job/console" 2>&1 || qemu=$?
# A cat still waiting in open() (QEMU never opened its FIFO) is let go by a writer that opens and closes.
for f in out err; do exec 7<>"$job/$f"; exec 7>&-; done
wait "$c1" "$c2" || true
cat "$job/console.serial" >> "$job/console" 2>/dev/null || true
[ "$qemu" = 0 ] || echo "kernel-run: qemu exited with $qemu" >> "$job/console"

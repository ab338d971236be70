#!/bin/bash
# PID 1 of a guest kernel that scripts/kernel-run.sh started (User-Mode Linux or a QEMU VM), running
# on this machine's / as its root. It gives the guest its own /proc, /sys, /dev, /run and network
# namespaces, loads the modules the tests need, marks the job started (how kernel-run knows the kernel
# booted), runs the job's command with stdout and stderr sent to the host, records the exit code, and
# powers off. The kernel command line hands it pcg_job (the job directory) and pcg_kind (uml or vm).
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
job=${pcg_job:?} kind=${pcg_kind:?}
log() { echo "kernel-run guest: $*" >> "$job/console"; }
since_boot() { cut -d' ' -f1 /proc/uptime; }   # where the boot's seconds go, in JOB/console
# From the kernel side: it needs no init system (this root's poweroff may be systemctl).
power_off() { sync; echo o > /proc/sysrq-trigger; sleep 60; }

mount -t proc proc /proc
log "init at $(since_boot) s"
mount -t sysfs sysfs /sys
# The guest's own devices and run state; /tmp stays the host's (a CI clone may live there).
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do [ -e "/dev/${i#*:}" ] || ln -s "/proc/self/fd/${i%:*}" "/dev/${i#*:}"; done
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /run/lock
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null

# Modules: Debian's stock kernel finds its own under /lib/modules; User-Mode Linux keeps its tree in
# /usr/lib/uml/modules, which modprobe reads through a -d root whose lib/modules points there. The
# kernel's own requests (nf_tables, nat, ...) go through the same modprobe.
if [ ! -d "/lib/modules/$(uname -r)" ] && [ -d /usr/lib/uml/modules ]; then
  mkdir -p /run/guest-mods/lib && ln -s /usr/lib/uml/modules /run/guest-mods/lib/modules
  printf '#!/bin/sh\nexec /sbin/modprobe -d /run/guest-mods "$@"\n' > /run/guest-modprobe
  chmod +x /run/guest-modprobe
  echo /run/guest-modprobe > /proc/sys/kernel/modprobe
fi
# What the tests need; the VM's initramfs has loaded them already (scripts/guest/vm.sh reads this list).
guest_modules="veth bridge macvlan ipvlan 8021q dummy"
modprobe=$(cat /proc/sys/kernel/modprobe)
for m in $guest_modules; do
  [ -d "/sys/module/$m" ] && continue
  # dummy makes no dummy0 of its own: each test names its links
  if [ "$m" = dummy ]; then set -- numdummies=0; else set --; fi
  "$modprobe" -q "$m" "$@" || log "module $m not loaded"
done
log "modules loaded at $(since_boot) s"
ip link set lo up
hostname "$(cat /etc/hostname 2>/dev/null || echo guest)" 2>/dev/null

# A User-Mode Linux whose register writes the XSAVE shim had to rewrite (an AMX host) runs the
# command only once threads' vector registers have survived its context switches; otherwise it
# stops unstarted, and kernel-run hands the command to the next kernel.
if [ -e "$job/xstate-rewritten" ]; then
  if "$job/fpu-check" >> "$job/console" 2>&1; then
    log "vector registers checked under the XSAVE shim: intact"
  else
    log "vector registers did not survive this kernel's context switches (fpu-check failed)"
    power_off
  fi
fi

# Where the host reads stdout and stderr: the VM's virtio-serial ports named guest.out/guest.err, or
# User-Mode Linux's consoles 1 and 2 (made raw, so nothing adds carriage returns). The command writes
# into pipes, so it sees no terminal and can reopen /dev/stdout.
out=/dev/tty1 err=/dev/tty2
for p in /sys/class/virtio-ports/*; do
  [ -r "$p/name" ] || continue
  case "$(cat "$p/name")" in guest.out) out=/dev/${p##*/} ;; guest.err) err=/dev/${p##*/} ;; esac
done
case "$out" in /dev/tty*) stty -F "$out" raw -echo; stty -F "$err" raw -echo ;; esac
exec 3>"$out" 4>"$err"
exec 5> >(exec cat >&3); c1=$!
exec 6> >(exec cat >&4 5>&-); c2=$!
log "command started at $(since_boot) s"
: > "$job/started"
PATCHCORD_GUEST=$kind /bin/bash "$job/run" </dev/null >&5 2>&6 3>&- 4>&- 5>&- 6>&-
echo $? > "$job/rc"
exec 5>&- 6>&-
# Let the copies drain; a daemon the command left behind may hold a pipe, so 5 s at most.
(sleep 5; kill "$c1" "$c2") 2>/dev/null &
wait "$c1" "$c2" 2>/dev/null
exec 3>&- 4>&-
power_off

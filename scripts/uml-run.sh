#!/usr/bin/env bash
# Runs one command inside a User-Mode Linux kernel (Debian's user-mode-linux package) whose root is
# this machine's filesystem, and exits with the command's exit code. patchcord uses it for kernel
# features the CI kernel lacks: ipvlan, dummy links, 802.1q and bridge VLAN filtering.
# The guest has its own network stack, so nothing it does reaches the host's network.
#   usage: scripts/uml-run.sh [--mem 1536M] -- COMMAND [ARG...]
#   env:   UML_PASS_ENV="VAR1 VAR2"  variables copied into the guest (PATH, CI and HOME always are)
set -euo pipefail
mem=1536M
while [ $# -gt 0 ]; do
  case "$1" in
    --mem) mem=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--mem SIZE] -- COMMAND [ARG...]" >&2; exit 2; }
command -v linux.uml >/dev/null || { echo "uml-run: linux.uml missing (apt-get install user-mode-linux kmod)" >&2; exit 3; }
modules=/usr/lib/uml/modules
[ -d "$modules" ] || { echo "uml-run: $modules missing (apt-get install user-mode-linux)" >&2; exit 3; }
state=$(mktemp -d /var/tmp/patchcord-uml.XXXXXX)
trap 'rm -rf "$state"' EXIT
{
  echo '#!/bin/sh'
  # /run is the guest's own (network namespaces are mounted there); /tmp stays the host's, since the
  # working tree (a CI clone, for one) may live under it.
  echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t tmpfs tmpfs /run'
  # modprobe looks under <dir>/lib/modules/<release>; give it Debian's UML module tree there.
  echo 'mkdir -p /run/netns /run/uml-mods/lib && ln -s /usr/lib/uml/modules /run/uml-mods/lib/modules'
  echo 'for m in veth bridge macvlan ipvlan dummy 8021q; do modprobe -q -d /run/uml-mods "$m" 2>/dev/null || echo "uml-run: module $m not loaded" >&2; done'
  # Modules the kernel asks for later (nf_tables, nat, ...) are loaded from the same tree.
  echo 'printf "#!/bin/sh\nexec /sbin/modprobe -d /run/uml-mods \"\$@\"\n" > /run/uml-modprobe && chmod +x /run/uml-modprobe && echo /run/uml-modprobe > /proc/sys/kernel/modprobe'
  echo 'ip link set lo up'
  for v in PATH CI HOME ${UML_PASS_ENV:-}; do [ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"; done
  printf 'cd %q || exit 1\n' "$PWD"
  printf '%q ' "$@"; echo
  echo "echo \$? > $state/rc"
  echo 'sync; halt -f'
} > "$state/init"
chmod +x "$state/init"
linux.uml mem="$mem" rootfstype=hostfs rw quiet init="$state/init" con=null con0=fd:0,fd:1 </dev/null 2>&1 \
  | grep -vE '^(\[ *[0-9.]+\]|Checking|Core dump|Linux version|SELinux|mmapper_init|.*ubd device|.*epollctl|Halting|reboot:)' || true
[ -s "$state/rc" ] || { echo "uml-run: the guest reported no exit code (did the kernel boot?)" >&2; exit 1; }
exit "$(cat "$state/rc")"

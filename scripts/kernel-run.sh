#!/usr/bin/env bash
# Runs one command in a guest Linux kernel that has what this machine's lacks (ipvlan, dummy links,
# 802.1q, bridge VLAN filtering), on this machine's / as the guest's root, with no network device:
# the guest's own network stack, so nothing it does reaches the host's network. It exits with the
# command's exit code, passes its stdout and stderr through, keeps the working directory and carries
# the chosen environment variables in. Two kernels, tried in turn: User-Mode Linux (boots in about
# 3 s), then Debian's stock kernel in a QEMU micro-VM (about 10 s under emulation, slower inside).
# Which one works is found by trying: a kernel that does not start the command (UML on Intel hosts
# with AMX, before its fix) hands over to the next one.
#
#   usage: scripts/kernel-run.sh [--mem SIZE] [--timeout SECONDS] [--rerun] -- COMMAND [ARG...]
#          --rerun: a command that may run twice (a test suite in throwaway namespaces) runs again on
#          the next kernel when one stops before it finishes (a guest crash), instead of exit 123
#          scripts/kernel-run.sh --probe     boot each kernel with `true`: which runs here, how fast
#   env:   KERNEL_RUN="uml vm"       the kernels to try, in order (KERNEL_RUN=vm: only the VM)
#          KERNEL_RUN_ENV="A B"      more variables to carry in (PATH HOME CI TERM LANG always are)
#          KERNEL_RUN_ACCEL=kvm|tcg  the VM's accelerator (default: KVM where vmx/svm and /dev/kvm)
#   inside: root; PATCHCORD_GUEST=uml|vm; its own /proc /sys /dev /run (+/run/netns); lo up;
#          stdin /dev/null; stdout and stderr are pipes (no terminal); the host's /tmp.
#   exit:  the command's; 125 when no kernel could start it (why, on stderr); 124 when --timeout ran
#          out; 123 when the kernel stopped before the command finished (its console, on stderr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)/guest
mem=1536M limit=
probe= rerun=
while [ $# -gt 0 ]; do
  case "$1" in
    --mem)
      [[ "${2:-}" =~ ^[1-9][0-9]*[MG]$ ]] || { echo "kernel-run: --mem takes a size like 1536M or 2G" >&2; exit 2; }
      mem=$2; shift 2 ;;
    --timeout)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "kernel-run: --timeout takes whole seconds" >&2; exit 2; }
      limit=$2; shift 2 ;;
    --probe) probe=1; shift ;;
    --rerun) rerun=1; shift ;;
    --) shift; break ;;
    -*) echo "kernel-run: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ -n "$probe" ] || [ $# -gt 0 ] || { echo "usage: $0 [--mem SIZE] [--timeout SECONDS] [--rerun] -- COMMAND [ARG...] | --probe" >&2; exit 2; }
kinds=${KERNEL_RUN:-uml vm}
for k in $kinds; do case "$k" in uml|vm) ;; *) echo "kernel-run: KERNEL_RUN names uml and vm, not $k" >&2; exit 2 ;; esac; done
name() { case "$1" in uml) echo "User-Mode Linux" ;; vm) echo "the QEMU VM" ;; esac; }

# A job directory on the host's disk, which the guest sees at the same path. Those of runs that died
# (their PID is gone) are removed here.
for d in /var/tmp/patchcord-guest.*.*; do
  [ -d "$d" ] || continue
  p=${d#/var/tmp/patchcord-guest.}
  [ -d "/proc/${p%%.*}" ] || rm -rf "$d"
done
job=$(mktemp -d "/var/tmp/patchcord-guest.$$.XXXXXX")
# Each kernel boots in a session of its own, so that a terminal's Ctrl-C reaches only this script,
# which then stops the whole guest itself: the backend's group (QEMU, the readers, the timer) and
# every process that names the job (UML makes a session of its own, and its host processes with it).
guest= timer=
stop() {
  for g in $guest $timer; do kill -KILL -- "-$g" 2>/dev/null || true; done
  pkill -KILL -f "pcg_job=$job " 2>/dev/null || true
  for g in $guest $timer; do wait "$g" 2>/dev/null || true; done
  # A killed process lingers until the kernel has torn it down (UML's are ptraced, which takes a
  # while): the run is over only when none is left, up to 10 s.
  for _ in $(seq 100); do
    pgrep -f "$job" >/dev/null 2>&1 || break
    pkill -KILL -f "$job" 2>/dev/null || true
    sleep 0.1
  done
  guest= timer=
}
trap 'stop; [ -n "${KERNEL_RUN_KEEP:-}" ] || rm -rf "$job"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The job: the guest's PID 1 (inside.sh), and a clean environment of the chosen variables, the
# caller's directory and the command.
write_job() {
  cp "$here/inside.sh" "$job/init"
  {
    printf 'exec /usr/bin/env -i PATCHCORD_GUEST="$PATCHCORD_GUEST"'
    for v in PATH HOME CI TERM LANG ${KERNEL_RUN_ENV:-}; do
      case "$v" in *[!A-Za-z0-9_]*) echo "kernel-run: KERNEL_RUN_ENV has $v, which is not a variable name" >&2; exit 2 ;; esac
      [ -z "${!v+x}" ] || printf ' %q' "$v=${!v}"
    done
    printf ' /bin/bash -c %q _ %q' 'cd "$1" || exit 1; shift; exec "$@"' "$PWD"
    printf ' %q' "$@"
    echo
  } > "$job/run"
}

# Boots one kernel for the job; afterwards JOB/started says it ran the command, JOB/rc how it ended,
# JOB/timeout that --timeout stopped it.
boot() {
  find "$job" -mindepth 1 ! -name init ! -name run -delete   # all an earlier kernel left
  : > "$job/console"
  setsid "$here/$1.sh" "$job" "$mem" & guest=$!
  [ -z "$limit" ] || { setsid bash -c 'sleep "$1"; : > "$2/timeout"; kill -KILL -- "-$3"' _ "$limit" "$job" "$guest" & timer=$!; }
  # The shell's own notes on jobs it kills ("Killed") are not the command's output: hidden meanwhile.
  exec 8>&2 2>/dev/null
  wait "$guest" || true
  stop
  exec 2>&8 8>&-
}
# The console without timestamps, stack traces and UML's harmless boot notes.
console_words() {
  tr -d '\r' <"$job/console" | sed -E 's/^\[ *[0-9.]+\] //; s/^kernel-run guest: //' | grep -E '^[^ ]' |
    grep -vE '^(kernel-run:|SELinux|mmapper_init|Failed to initialize ubd|Call Trace|Stack:|.*\.sh: line [0-9]+:)' || true
}
# Why a kernel did not start the command: what it said it lacks, or the console's last words.
why_not() {
  if [ -s "$job/why" ]; then cat "$job/why"; return; fi
  local last
  last=$(console_words | grep -iE 'fail|panic|error|cannot|not found|no such|did not survive' | tail -n 2 | paste -sd ';' | sed 's/;/; /g')
  echo "it did not start the command: ${last:-its console says nothing}"
}

if [ -n "$probe" ]; then
  set -- true
  write_job "$@"
  works=1
  for k in $kinds; do
    start=$(date +%s%N)
    boot "$k"
    if [ -e "$job/started" ] && [ "$(cat "$job/rc" 2>/dev/null)" = 0 ]; then
      echo "$k: $(name "$k") runs commands here ($(( ($(date +%s%N) - start) / 1000000 )) ms for \`true\`)"
      works=0
    else
      echo "$k: $(name "$k") cannot run commands here: $(why_not)"
    fi
  done
  exit "$works"
fi

write_job "$@"
reasons=()
set -- $kinds
while [ $# -gt 0 ]; do
  k=$1; shift
  boot "$k"
  if [ -e "$job/timeout" ]; then
    echo "kernel-run: the command did not finish within $limit s in $(name "$k"); stopped it" >&2
    exit 124
  fi
  if [ -e "$job/started" ]; then
    [ ! -s "$job/rc" ] || exit "$(cat "$job/rc")"
    if [ -n "$rerun" ] && [ $# -gt 0 ]; then
      echo "kernel-run: $(name "$k") stopped before the command finished ($(why_not | sed 's/^it did not boot: //')); running it again in $(name "$1")" >&2
      continue
    fi
    echo "kernel-run: $(name "$k") stopped before the command finished; the end of its console:" >&2
    console_words | tail -n 12 >&2
    exit 123
  fi
  reason=$(why_not)
  reasons+=("$(name "$k"): $reason")
  [ $# -eq 0 ] || echo "kernel-run: $(name "$k") cannot run the command here ($reason); trying $(name "$1")" >&2
done
echo "kernel-run: no guest kernel can run commands on this host:" >&2
printf '  %s\n' "${reasons[@]}" >&2
exit 125

#!/usr/bin/env bash
# kernel-run's User-Mode Linux backend: boots Debian's UML kernel (package user-mode-linux) with this
# machine's / as its root over hostfs and scripts/guest/inside.sh as init, for the job in JOB.
#   usage: scripts/guest/uml.sh JOB MEM
# Writes JOB/console (the kernel's messages); JOB/why and exit 3 when UML is not installed.
set -euo pipefail
job=$1 mem=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v linux.uml >/dev/null && [ -d /usr/lib/uml/modules ] ||
  { echo "User-Mode Linux is not installed (apt-get install user-mode-linux kmod)" > "$job/why"; exit 3; }

# On hosts whose XSAVE area is larger than UML's fixed FP buffer (Intel with AMX: 11008 bytes), the
# host kernel refuses UML's register writes and UML dies at its first process. The preloaded shim
# (uml-xstate.c) makes those writes whole-sized; elsewhere it passes every call through unchanged.
# Where it had to, it leaves JOB/xstate-rewritten, and inside.sh runs JOB/fpu-check before the command.
preload= check=
read -r preload check < <("$here/uml-xstate.sh" 2>>"$job/console") || true
[ -z "$check" ] || cp "$check" "$job/fpu-check"
# Consoles: 0 (kernel messages) to JOB/console, 1 and 2 to our stdout and stderr. UML's own host-side
# messages (a fatal ptrace error, say) go to JOB/console too.
# The group's stderr (fd 6 keeps ours) also takes bash's own note when UML dies of a signal.
{
  PATCHCORD_XSTATE_MARK=$job/xstate-rewritten LD_PRELOAD=$preload linux.uml mem="$mem" rootfstype=hostfs rw quiet init="$job/init" \
    pcg_job="$job" pcg_kind=uml con=null con0=null,fd:3 con1=null,fd:4 con2=null,fd:5 \
    3>>"$job/console" 4>&1 5>&6 6>&- </dev/null >>"$job/console" || true
} 6>&2 2>>"$job/console"

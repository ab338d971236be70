#!/usr/bin/env bash
# Builds the XSAVE shim (uml-xstate.c) and the guest's register check (fpu-check.c), once per
# checksum, with the system's cc, and prints their paths (shim, then check) on one line; exits
# non-zero with a reason on stderr when there is no compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=/var/tmp/patchcord-guest-cache
build() {   # build NAME SOURCE CC-ARGS...: the cached output's path
  local out=$cache/$1-$(cksum < "$2" | cut -d' ' -f1)
  if [ ! -s "$out" ]; then
    command -v cc >/dev/null || { echo "uml-xstate: no C compiler (apt-get install gcc libc6-dev): UML runs without the AMX fix" >&2; exit 1; }
    mkdir -p "$cache"
    cc -O2 -Wall -Werror -o "$out.$$" "$2" "${@:3}"
    mv -f "$out.$$" "$out"
  fi
  echo "$out"
}
echo "$(build uml-xstate.so "$here/uml-xstate.c" -shared -fPIC -ldl) $(build fpu-check "$here/fpu-check.c" -pthread)"

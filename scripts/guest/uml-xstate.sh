#!/usr/bin/env bash
# Builds uml-xstate.c (once per checksum, with the system's cc) and prints the shared object's path;
# exits non-zero with a reason on stderr when there is no compiler.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)/uml-xstate.c
cache=/var/tmp/patchcord-guest-cache
so=$cache/uml-xstate-$(cksum < "$src" | cut -d' ' -f1).so
if [ ! -s "$so" ]; then
  command -v cc >/dev/null || { echo "uml-xstate: no C compiler (apt-get install gcc libc6-dev): UML runs without the AMX fix" >&2; exit 1; }
  mkdir -p "$cache"
  cc -O2 -Wall -Werror -shared -fPIC -o "$so.$$" "$src" -ldl
  mv -f "$so.$$" "$so"
fi
echo "$so"

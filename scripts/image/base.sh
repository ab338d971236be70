#!/usr/bin/env bash
# Makes the local Debian bookworm base image (default localhost/patchcord-base:bookworm) without a
# registry: debootstrap a minbase rootfs from this machine's Debian mirror, slim it the way
# debian:bookworm-slim is slimmed (no docs, man pages or locales), and import it with buildah.
# The rootfs tarball is cached under /var/tmp and made again when older than 7 days (so the base
# does not drift far behind the mirror's security updates). Run as root.
#   base.sh [IMAGE]    PATCHCORD_IMAGE_FRESH=1 redoes the debootstrap and the import
set -euo pipefail
image=${1:-localhost/patchcord-base:bookworm}
suite=bookworm
cache=${PATCHCORD_IMAGE_CACHE:-/var/tmp/patchcord-image}
tarball=$cache/$suite-minbase.tar
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"

# The machine's Debian mirrors, as apt sees them: only *.list (one-line) and *.sources (deb822) count.
mirror_for() { # SUITE: the first deb URI that serves it
  local lists=() sources=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && lists+=("$f"); done
  for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && sources+=("$f"); done
  {
    # deb [options] URI SUITE COMPONENTS...
    [ ${#lists[@]} -eq 0 ] || awk -v suite="$1" '$1 == "deb" {
        sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, ""); split($0, f, /[ \t]+/); if (f[2] == suite) print f[1] }' "${lists[@]}"
    # one stanza per paragraph; fields in any order
    [ ${#sources[@]} -eq 0 ] || awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" } {
        types = uris = suites = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^[ \t]*#/) continue
          split($i, kv, /:[ \t]*/); key = tolower(kv[1]); val = substr($i, length(kv[1]) + 2); sub(/^[ \t]+/, "", val)
          if (key == "types") types = " " val " "; else if (key == "uris") uris = val
          else if (key == "suites") suites = " " val " "; else if (key == "enabled" && val ~ /^no/) enabled = 0
        }
        if (enabled && types ~ / deb / && suites ~ (" " suite " ")) { split(uris, u, /[ \t]+/); print u[1] }
      }' "${sources[@]}"
  } | sed -n 1p # reads to the end: no SIGPIPE under pipefail
}
mirror=$(mirror_for "$suite")
security=$(mirror_for "$suite-security")
mirror=${mirror:-http://deb.debian.org/debian}

if [ -n "${PATCHCORD_IMAGE_FRESH:-}" ] || [ -z "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
  echo "base: debootstrap --variant=minbase $suite from $mirror"
  command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 3; }
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  "$here/slim.sh" "$root" "$suite" "$mirror" "$security"
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
  trap - EXIT
  PATCHCORD_IMAGE_FRESH=1
fi

stamp=$(stat -c %Y "$tarball")
if [ -z "${PATCHCORD_IMAGE_FRESH:-}" ] && [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "patchcord.base.stamp"}}' "$image" 2>/dev/null)" = "$stamp" ]; then
  echo "base: $image is up to date"
  exit 0
fi
echo "base: importing $tarball as $image"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
# Unpacked through a mount rather than `buildah add`, so ownership, modes and device nodes stay
# exactly as debootstrap made them.
mnt=$(buildah mount "$ctr")
tar --numeric-owner --xattrs -C "$mnt" -xf "$tarball"
buildah umount "$ctr" >/dev/null
buildah config --os linux --arch amd64 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd /bin/bash --label patchcord.base.stamp="$stamp" --label patchcord.base.mirror="$mirror" "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
echo "base: $image ($(buildah inspect --type image --format '{{.FromImageID}}' "$image" | cut -c1-12))"

#!/usr/bin/env bash
# Builds the patchcord image from the top-level Dockerfile without a registry or a Docker engine:
# a local Debian base (base.sh: debootstrap from this machine's mirror), a Node build base on it
# (node-base.sh: this machine's Node), then `buildah bud` with those as the Dockerfile's bases.
# Idempotent: cached rootfs, bases remade only when stale, buildah's layer cache for the rest.
# Run as root. Tags patchcord:<package.json version> (localhost/patchcord:<version>).
#   build.sh [--fresh] [--archive FILE]
#     --fresh: new debootstrap, new bases, no layer cache
#     --archive FILE: also write the image as a docker-archive tarball named patchcord:<version>,
#       which `kind load image-archive`, `minikube image load` and `ctr images import` take
#   PATCHCORD_IMAGE_STORAGE=vfs   where overlay does not work (nested in a container)
#   PATCHCORD_IMAGE_ISOLATION=chroot   where runc cannot start containers
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
start=$SECONDS
stage() { echo "== image [$((SECONDS - start)) s] $*"; }

[ "$(id -u)" -eq 0 ] || { echo "build.sh: run as root" >&2; exit 2; }
command -v buildah >/dev/null || { echo "buildah missing: apt-get install buildah" >&2; exit 3; }
cache_flags=(--layers)
archive=
while [ $# -gt 0 ]; do
  case $1 in
    --fresh) export PATCHCORD_IMAGE_FRESH=1; cache_flags=(--layers --no-cache); shift ;;
    --archive) [ $# -ge 2 ] || { echo "build.sh: --archive needs a file" >&2; exit 2; }; archive=$2; shift 2 ;;
    *) echo "build.sh: unknown argument $1 (--fresh, --archive FILE)" >&2; exit 2 ;;
  esac
done
if [ -n "${PATCHCORD_IMAGE_STORAGE:-}" ]; then export STORAGE_DRIVER=$PATCHCORD_IMAGE_STORAGE; fi
# One build at a time: a second one would remove the first one's fresh cache images.
mkdir -p "${PATCHCORD_IMAGE_CACHE:-/var/tmp/patchcord-image}"
exec 9>"${PATCHCORD_IMAGE_CACHE:-/var/tmp/patchcord-image}/build.lock"
flock 9
version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$root/package.json")
[ -n "$version" ] || { echo "build.sh: no version in package.json" >&2; exit 1; }
tag=localhost/patchcord:$version
base=localhost/patchcord-base:bookworm
node_base=localhost/patchcord-node:bookworm

stage "runtime base $base"
"$here/base.sh" "$base"
stage "build base $node_base"
"$here/node-base.sh" "$node_base" "$base"
stage "buildah bud -> $tag"
# --network host: npm ci and apt-get reach their registries as this machine does.
# --pull=never: both bases are local; nothing may come from a registry.
bud_log=$(mktemp)
trap 'rm -f "$bud_log"' EXIT
buildah bud "${cache_flags[@]}" --pull=never --network host \
  --isolation "${PATCHCORD_IMAGE_ISOLATION:-oci}" \
  --build-arg NODE_IMAGE="$node_base" --build-arg RUNTIME_IMAGE="$base" \
  --label org.opencontainers.image.version="$version" \
  --tag "$tag" --file "$root/Dockerfile" "$root" | tee "$bud_log"
# The name `docker build -t patchcord:<version>` gives, which the manifests' `image:` resolves to.
buildah tag "$tag" "docker.io/library/patchcord:$version"

# Every build leaves its steps as untagged images (the layer cache); on a tree that changes they
# pile up by the gigabyte. Keep this build's steps (the next build's cache), drop the others'.
keep=$(sed -n 's/^--> \(Using cache \)\{0,1\}\([0-9a-f]\{11,\}\)$/\2/p' "$bud_log")
dropped=0
for id in $(buildah images --all --noheading --no-trunc --filter dangling=true --format '{{.ID}}'); do
  id=${id#sha256:}
  mine=
  for k in $keep; do case $id in "$k"*) mine=1 ;; esac; done
  # Only the tips of untagged chains are listed; removing one removes the untagged images under it
  # that nothing else builds on (a cache image this build used stays).
  if [ -z "$mine" ] && buildah rmi "$id" >/dev/null 2>&1; then dropped=$((dropped + 1)); fi
done
[ "$dropped" -eq 0 ] || echo "build.sh: removed $dropped untagged images of earlier builds"

if [ -n "$archive" ]; then
  stage "docker-archive $archive"
  rm -f "$archive"
  buildah push --quiet "$tag" "docker-archive:$archive:patchcord:$version"
fi
stage "done: $tag ($(buildah images --format '{{.Size}}' "$tag" | sed -n 1p))"

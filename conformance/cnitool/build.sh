#!/usr/bin/env bash
# Builds the conformance driver offline, in GOPATH mode, on Debian's libcni sources
# (packages golang-go and golang-github-appc-cni-dev). Output: dist/cnitool
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v go >/dev/null || { echo "go missing: apt-get install golang-go golang-github-appc-cni-dev" >&2; exit 3; }
[ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] || { echo "libcni sources missing: apt-get install golang-github-appc-cni-dev" >&2; exit 3; }
mkdir -p "$root/dist"
cd "$here"
GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-$root/dist/.gocache}" CGO_ENABLED=0 \
  go build -o "$root/dist/cnitool" .
echo "dist/cnitool built on libcni $(sed -n 's/^Version: //p' /usr/share/doc/golang-github-appc-cni-dev/copyright 2>/dev/null || true)"

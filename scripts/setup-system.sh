#!/usr/bin/env bash
# Installs the Debian packages patchcord's build, demo and tests use (run as root).
#   iproute2, util-linux (nsenter), procps (sysctl), iputils-ping: the kernel plumbing and checks
#   containernetworking-plugins: the reference plugins in /usr/lib/cni, for interop tests and the benchmark
#   time: peak memory per invocation in the benchmark
#   nftables, iptables: ipMasq (nft) and the reference portmap in chaining tests
#   user-mode-linux, kmod: a kernel with ipvlan, dummy and bridge VLAN filtering for test/uml
#   golang-go, golang-github-appc-cni-dev: the conformance driver, built offline on libcni
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 util-linux procps iputils-ping nftables iptables containernetworking-plugins time \
  user-mode-linux kmod golang-go golang-github-appc-cni-dev ca-certificates >/dev/null
echo "system packages installed"

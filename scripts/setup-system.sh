#!/usr/bin/env bash
# Installs the Debian packages patchcord's build, demo and tests use (run as root).
#   iproute2, util-linux (nsenter), procps (sysctl), iputils-ping: the kernel plumbing and checks
#   containernetworking-plugins: the reference plugins in /usr/lib/cni, for interop tests and the benchmark
#   time: peak memory per invocation in the benchmark
#   gcc, libc6-dev (libc.a): also QuickJS and the static native shim, dist/bin/patchcord-shim (scripts/build-shim.mjs)
#   nftables, iptables: ipMasq (nft) and the reference portmap in chaining tests
#   the guest kernels of scripts/kernel-run.sh, which have ipvlan, dummy, 802.1q and bridge VLAN
#   filtering for test/kernel-features and the lab's ipvlan scene (both are installed: which one boots
#   depends on the host's CPU, and kernel-run finds out by trying):
#     user-mode-linux, kmod: User-Mode Linux; gcc, libc6-dev: its XSAVE shim for Intel hosts with AMX
#     qemu-system-x86, linux-image-amd64, busybox-static, xz-utils: the QEMU VM on Debian's kernel
#     tiny-initramfs: fills linux-image-amd64's initramfs dependency without initramfs-tools and udev
#   golang-go, golang-github-appc-cni-dev: the conformance driver, built offline on libcni
#   containerd, runc: the cluster test starts a real container with the agent's conflist
#   openssl: the Kubernetes API stand-in's CA and certificate; curl: the agents' health endpoints
#   buildah, debootstrap: the agent's image, built from the Dockerfile on a local Debian base (no registry)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 util-linux procps iputils-ping nftables iptables containernetworking-plugins time \
  user-mode-linux kmod gcc libc6-dev qemu-system-x86 linux-image-amd64 busybox-static xz-utils tiny-initramfs \
  golang-go golang-github-appc-cni-dev ca-certificates \
  containerd runc openssl curl buildah debootstrap >/dev/null
echo "system packages installed"

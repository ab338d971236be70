#!/usr/bin/env bash
# Slims a debootstrapped rootfs into what a container base needs (as debian:*-slim is made):
# no apt caches or lists, no docs/man pages/locales now or in later installs, no host-specific
# files, and apt sources for the given mirrors.
#   slim.sh ROOTFS SUITE MIRROR [SECURITY_MIRROR]
set -euo pipefail
root=$1 suite=$2 mirror=$3 security=${4:-}
[ -d "$root/var/lib/dpkg" ] || { echo "slim.sh: $root is not a Debian rootfs" >&2; exit 2; }

rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
  "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
# What a runtime fills in at container start.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian
cat >"$root/etc/dpkg/dpkg.cfg.d/90-container-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
# apt in a container: nothing recommended, no cache of downloaded packages.
cat >"$root/etc/apt/apt.conf.d/90-container" <<'CFG'
APT::Install-Recommends "false";
Binary::apt::APT::Keep-Downloaded-Packages "false";
CFG

rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suite" "$suite"
  if [ -n "$security" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"

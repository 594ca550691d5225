#!/bin/sh
# mmdebstrap --essential-hook: after the essential set, before the rest is installed.
# Divert update-initramfs: under qemu every kernel/firmware trigger would rebuild the initramfs
# (twice in a first build, minutes each). customize.sh restores it and runs it once.
set -eu
root="$1"
chroot "$root" dpkg-divert --local --rename --divert /usr/sbin/update-initramfs.real \
    --add /usr/sbin/update-initramfs
ln -sf /bin/true "$root/usr/sbin/update-initramfs"

#!/bin/sh
# mmdebstrap --setup-hook: runs before any package is installed.
# raspi-firmware's kernel hook writes cmdline.txt/config.txt from /etc/default/raspi-firmware; if
# the file is not there when the kernel is installed it probes the BUILD HOST (root=/dev/mmcblk0p2,
# cma=64M seen in a first build). Install ours first; dpkg keeps it (--force-confold).
set -eu
root="$1"
here="$(dirname "$0")/.."
mkdir -p "$root/etc/default" "$root/boot/firmware"
install -m 0644 "$here/overlay/etc/default/raspi-firmware" "$root/etc/default/raspi-firmware"
install -m 0644 "$here/overlay/etc/default/raspi-firmware-custom" "$root/etc/default/raspi-firmware-custom"

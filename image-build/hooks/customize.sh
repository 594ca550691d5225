#!/bin/sh
# mmdebstrap --customize-hook: all packages installed. Restore update-initramfs, build the
# initramfs once, let raspi-firmware copy kernel + initrd and write config.txt/cmdline.txt.
set -eu
root="$1"
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --local --rename --divert /usr/sbin/update-initramfs.real \
    --remove /usr/sbin/update-initramfs
for kver in $(ls "$root/lib/modules"); do
    chroot "$root" update-initramfs -c -k "$kver"
    chroot "$root" /etc/kernel/postinst.d/z50-raspi-firmware "$kver"
done
# Nothing device-specific in the cached base.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*

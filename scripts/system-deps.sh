#!/bin/sh
# Installs the Debian packages Branchwatch's tests and demo use, when missing and running as
# root; otherwise says what to install. Never fails the build by itself: the tests that need a
# missing tool skip locally and fail under CI=true.
set -eu

# libpcap's package name changed with the 64-bit time_t transition (Debian 13).
libpcap_pkg() {
    if apt-cache show libpcap0.8t64 >/dev/null 2>&1; then echo libpcap0.8t64; else echo libpcap0.8; fi
}

missing=""
# Debian splits venv (and its ensurepip) out of python3.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || missing="$missing LIBPCAP"
command -v tcpreplay >/dev/null 2>&1 || missing="$missing tcpreplay"
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing="$missing nftables"
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$missing iproute2"
command -v mcopy >/dev/null 2>&1 || missing="$missing mtools"
command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ] || missing="$missing dosfstools"
command -v sfdisk >/dev/null 2>&1 || [ -x /usr/sbin/sfdisk ] || missing="$missing fdisk"
[ -e /dev/fuse ] && { command -v fusermount3 >/dev/null 2>&1 || missing="$missing fuse3"; }
ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2' || missing="$missing libfuse2"
# The first-boot scripts' test mounts the image's ext4 and FAT partitions through FUSE.
[ -e /dev/fuse ] && { command -v fuse2fs >/dev/null 2>&1 || missing="$missing fuse2fs"; }
[ -e /dev/fuse ] && { command -v fusefat >/dev/null 2>&1 || missing="$missing fusefat"; }
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
command -v strace >/dev/null 2>&1 || missing="$missing strace"
[ -n "${BRANCHWATCH_WITH_TSHARK:-}" ] && { command -v tshark >/dev/null 2>&1 || missing="$missing tshark"; }
[ -n "${BRANCHWATCH_WITH_POSTGRES:-}" ] && { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"; }

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    pkgs=$(echo "$missing" | sed "s/LIBPCAP/$(libpcap_pkg)/")
    echo "system-deps: installing$pkgs" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
else
    echo "system-deps: missing Debian packages:$(echo "$missing" | sed 's/LIBPCAP/libpcap0.8 (or libpcap0.8t64)/')" >&2
    echo "system-deps: install them as root (apt-get install ...); tests that need them will skip." >&2
fi

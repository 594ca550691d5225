#!/bin/bash
# Branchwatch SD-card image: the one entry point behind `make image`.
#
#   image-build/build.sh [--base-only] [--no-verify]
#   environment: BUILD_COMMIT (default HEAD), COMPRESS=zstd|xz|none, COMPRESS_LEVEL (3),
#                CACHE, WORK, OUT, INSTALLED (cache of installed + compiled wheels)
#
# Stages (each logged with its time):
#   host      apt-get install mmdebstrap qemu-user-static binfmt-support arch-test; binfmt
#   base      mmdebstrap --arch=arm64 trixie  -> $CACHE/base-<key>.tar   (cached)
#   wheels    project wheel + pinned deps for cp313 aarch64 (+ lgpio built in an arm64 chroot)
#   app       venv, units, overlay, users, policy on a copy of the base tree
#   assemble  boot/root split, FAT + ext4 + MBR image, verify, manifest, package list,
#             compression, block map, checksums -> $OUT
# Needs root (mmdebstrap root mode, chroot under qemu-user, bind mounts of /proc and /dev).
# No loop devices and no filesystem mounts of the image: partitions are built as files.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SUITE="${SUITE:-trixie}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
CACHE="${CACHE:-/var/cache/branchwatch-image}"
WORK="${WORK:-$REPO/build/image/work}"
OUT="${OUT:-$REPO/build/image/out}"
BOOT_MIB="${BOOT_MIB:-512}"
# The commit the image is built from (default: HEAD when the build starts); check.sh pins it so
# that its two builds see the same inputs while others commit.
export BUILD_COMMIT="${BUILD_COMMIT:-$(git -C "$REPO" rev-parse HEAD)}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct "$BUILD_COMMIT" 2>/dev/null || echo 1767225600)}"
BASE_ONLY=0
VERIFY=1
for arg in "$@"; do
    case "$arg" in
        --base-only) BASE_ONLY=1 ;;
        --no-verify) VERIFY=0 ;;
        *) echo "usage: $0 [--base-only] [--no-verify]" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "build.sh: needs root" >&2; exit 1; }
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }

# ---------------------------------------------------------------- host
stage host tools and binfmt
need=()
for pair in mmdebstrap:mmdebstrap qemu-aarch64-static:qemu-user-static \
            update-binfmts:binfmt-support arch-test:arch-test mcopy:mtools \
            mkfs.vfat:dosfstools mke2fs:e2fsprogs sfdisk:fdisk xz:xz-utils zstd:zstd; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true
arch-test arm64 >/dev/null || { echo "build.sh: arm64 binaries do not run (binfmt)" >&2; exit 1; }

# ---------------------------------------------------------------- base
mkdir -p "$CACHE" "$WORK" "$OUT"
PACKAGES="$(grep -v '^\s*#' "$HERE/packages.txt" | xargs | tr ' ' ',')"
MMOPTS=(--mode=root --arch=arm64 --variant=apt --components=main,non-free-firmware
        --include="$PACKAGES" --dpkgopt=force-confold --dpkgopt=force-confdef
        --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata
        --setup-hook="$HERE/hooks/setup.sh \"\$1\""
        --essential-hook="$HERE/hooks/essential.sh \"\$1\""
        --customize-hook="$HERE/hooks/customize.sh \"\$1\"")
BASE_KEY="$( { echo "$SUITE $MIRROR ${MMOPTS[*]}"; cat "$HERE/packages.txt" "$HERE"/hooks/*.sh \
    "$HERE/overlay/etc/default/raspi-firmware" "$HERE/overlay/etc/default/raspi-firmware-custom"; } \
    | sha256sum | cut -c1-16)"
BASE="$CACHE/base-$BASE_KEY"   # a directory: the app stage copies it
# The lgpio wheel (lgpio.sh: its own arm64 builder tree, then a compile under qemu) does not
# depend on the base tree: on a cold cache it runs beside it, so the two qemu-bound mmdebstraps
# share the 2 cores instead of running one after the other (cold: ~18 min off the critical path).
LGPIO_PID=""
if [ "$BASE_ONLY" = 0 ] && [ "${LGPIO_OPTIONAL:-0}" != 1 ] \
        && ! ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl >/dev/null 2>&1 \
        && ! pgrep -f "lgpio\.sh" >/dev/null; then
    stage "lgpio: cp313 aarch64 wheel, in the background beside the base tree (log: $WORK/lgpio.log)"
    HERE="$HERE" REPO="$REPO" CACHE="$CACHE" WORK="$WORK" SUITE="$SUITE" MIRROR="$MIRROR" \
        "$HERE/lgpio.sh" >"$WORK/lgpio.log" 2>&1 &
    LGPIO_PID=$!   # not killed if the base fails: it finishes filling the cache for the next run
fi
if [ -d "$BASE" ]; then
    stage "base tree cached: $BASE"
else
    stage "base tree: mmdebstrap $SUITE arm64 (cold: tens of minutes under qemu)"
    rm -rf "$BASE.partial"
    mmdebstrap "${MMOPTS[@]}" "$SUITE" "$BASE.partial" "$MIRROR"
    mv "$BASE.partial" "$BASE"
fi
[ "$BASE_ONLY" = 1 ] && { stage "done (base only)"; exit 0; }
if [ -n "$LGPIO_PID" ]; then
    stage "lgpio: waiting for the background build"
    if ! wait "$LGPIO_PID"; then
        tail -n 40 "$WORK/lgpio.log" >&2
        echo "build.sh: the lgpio wheel build failed (log: $WORK/lgpio.log)" >&2
        exit 1
    fi
    stage "lgpio: $(ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl)"
fi

export HERE REPO CACHE WORK OUT BOOT_MIB VERIFY SOURCE_DATE_EPOCH SUITE MIRROR
exec "$HERE/app.sh" "$BASE"

#!/bin/bash
# The lgpio wheel for the image (cp313, aarch64), built from the pinned PyPI sdist in a cached
# arm64 builder tree under qemu-user: PyPI has no cp313 aarch64 wheel of lgpio, and gpiozero's
# other factories cannot work on Debian's kernel (no /dev/gpiomem). PYPI=1 makes setup.py link
# the bundled C library statically, so the image needs no liblgpio package.
set -euo pipefail
HERE="${HERE:-$(cd "$(dirname "$0")" && pwd)}"
REPO="${REPO:-$(cd "$HERE/.." && pwd)}"
CACHE="${CACHE:-/var/cache/branchwatch-image}"
WORK="${WORK:-$REPO/build/image/work}"
SUITE="${SUITE:-trixie}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
LGPIO_VERSION=0.2.2.0
LGPIO_SHA256=11372e653b200f76a0b3ef8a23a0735c85ec678a9f8550b9893151ed0f863fff
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3

BUILDER_PACKAGES=build-essential,swig,python3-dev,python3-setuptools,python3-wheel,python3-pip
KEY="$(echo "$SUITE $MIRROR $BUILDER_PACKAGES" | sha256sum | cut -c1-16)"
BUILDER="$CACHE/builder-$KEY"
if [ ! -d "$BUILDER" ]; then
    rm -rf "$BUILDER.partial"
    mmdebstrap --mode=root --arch=arm64 --variant=apt --include="$BUILDER_PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata "$SUITE" "$BUILDER.partial" "$MIRROR"
    mv "$BUILDER.partial" "$BUILDER"
fi
src="$WORK/lgpio-src"
rm -rf "$src"; mkdir -p "$src"
"$HOSTPY" -m pip download --quiet --no-deps --no-binary :all: -d "$src" "lgpio==$LGPIO_VERSION"
echo "$LGPIO_SHA256  $src/lgpio-$LGPIO_VERSION.tar.gz" | sha256sum -c --quiet
build="$BUILDER/tmp/lgpio-build"
rm -rf "$build"; mkdir -p "$build/out"
cp "$src/lgpio-$LGPIO_VERSION.tar.gz" "$build/"
mount --bind /proc "$BUILDER/proc"; mount --bind /dev "$BUILDER/dev"
trap 'umount "$BUILDER/proc" "$BUILDER/dev" 2>/dev/null || true' EXIT
chroot "$BUILDER" /usr/bin/env -i PATH=/usr/bin:/bin PYPI=1 SOURCE_DATE_EPOCH=1767225600 HOME=/tmp \
    python3 -m pip wheel --no-deps --no-build-isolation --no-index \
    -w /tmp/lgpio-build/out "/tmp/lgpio-build/lgpio-$LGPIO_VERSION.tar.gz"
cp "$build"/out/lgpio-*.whl "$CACHE/"
ls "$CACHE"/lgpio-*.whl

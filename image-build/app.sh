#!/bin/bash
# Stage 2 of build.sh: the application layer on a copy of the cached base tree, then assembly.
#   app.sh BASE_DIR        (environment from build.sh: REPO HERE CACHE WORK OUT BOOT_MIB VERIFY)
set -euo pipefail
BASE="$1"
HERE="${HERE:-$(cd "$(dirname "$0")" && pwd)}"
REPO="${REPO:-$(cd "$HERE/.." && pwd)}"
CACHE="${CACHE:-/var/cache/branchwatch-image}"
WORK="${WORK:-$REPO/build/image/work}"
OUT="${OUT:-$REPO/build/image/out}"
BOOT_MIB="${BOOT_MIB:-512}"
VERIFY="${VERIFY:-1}"
IMAGE="$OUT/branchwatch-arm64.img"
ROOT="$WORK/root"
VENV=/opt/branchwatch/venv
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3

mounted=()
cleanup() {
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" || true; done
}
trap cleanup EXIT
bind() { mount --bind "$1" "$2"; mounted+=("$2"); }
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root "$@"; }

# ---------------------------------------------------------------- root tree
stage "root tree: copy of the base"
rm -rf "$ROOT" "$WORK/boot"
cp -a "$BASE" "$ROOT"
bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev"

stage "venv: $VENV (qemu-user)"
# Without ensurepip (minutes under qemu): pip runs from Debian's own pip wheel below.
in_root /usr/bin/python3 -m venv --without-pip "$VENV"
# ---------------------------------------------------------------- wheels
stage "wheels: project + pinned dependencies for cp313 aarch64"
WHEELS="$WORK/wheels"
rm -rf "$WHEELS"; mkdir -p "$WHEELS" "$CACHE/pip"
# The wheel is built from the committed tree (git archive): reproducible, and setuptools never
# walks the work tree (which holds the image's root with /proc bound into it).
rm -rf "$WORK/src"; mkdir -p "$WORK/src"
git -C "$REPO" archive --format=tar HEAD | tar -x -C "$WORK/src"
"$HOSTPY" -m pip wheel --quiet --no-deps -w "$WHEELS" "$WORK/src"
mapfile -t DEPS < <("$HOSTPY" -c 'import tomllib,sys; print("\n".join(tomllib.load(open(sys.argv[1],"rb"))["project"]["dependencies"]))' "$REPO/pyproject.toml")
"$HOSTPY" -m pip download --quiet --cache-dir "$CACHE/pip" --dest "$WHEELS" --only-binary=:all: \
    --python-version 3.13 --implementation cp --abi cp313 --abi abi3 --abi none \
    --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform any \
    --constraint "$HERE/constraints.txt" "${DEPS[@]}"
# Another build's lgpio.sh may be filling the cache right now: let it finish (two would share the
# builder tree).
while pgrep -f "lgpio\.sh" >/dev/null; do sleep 10; done
LGPIO_WHEEL="$(ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl 2>/dev/null | head -1 || true)"
APP_PACKAGES=(branchwatch lgpio)
if [ -z "$LGPIO_WHEEL" ] && [ "${LGPIO_OPTIONAL:-0}" = 1 ]; then
    # Development builds only: the image's status LEDs cannot work without lgpio.
    echo "WARNING: no lgpio wheel in $CACHE: building WITHOUT lgpio (LGPIO_OPTIONAL=1)" >&2
    APP_PACKAGES=(branchwatch)
else
    if [ -z "$LGPIO_WHEEL" ]; then
        stage "lgpio: building the cp313 aarch64 wheel in an arm64 builder tree (cached)"
        "$HERE/lgpio.sh"
        LGPIO_WHEEL="$(ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl | head -1)"
    fi
    cp "$LGPIO_WHEEL" "$WHEELS/"
fi
(cd "$WHEELS" && sha256sum *.whl) > "$WORK/wheels.sha256"

mkdir -p "$ROOT/tmp/wheels"
bind "$WHEELS" "$ROOT/tmp/wheels"

PIP_WHEEL="$(cd "$ROOT" && ls usr/share/python-wheels/pip-*.whl | head -1)"
in_root "$VENV/bin/python" "/$PIP_WHEEL/pip" install --quiet --no-index --no-compile --no-cache-dir \
    --find-links /tmp/wheels "${APP_PACKAGES[@]}"
# Checked-hash .pyc: valid whatever the file times, identical for identical sources.
in_root "$VENV/bin/python" -m compileall -q -f --invalidation-mode checked-hash "$VENV/lib"
in_root "$VENV/bin/branchwatch" --version
if [ "${#APP_PACKAGES[@]}" = 2 ]; then
    in_root "$VENV/bin/python" -c 'import lgpio, gpiozero.pins.lgpio; print("lgpio imports")'
fi

stage "overlay, units, users, policy"
cp -a --no-preserve=ownership "$HERE/overlay/." "$ROOT/"
mkdir -p "$ROOT/data"
install -m 0644 "$REPO"/firmware/units/*.service "$ROOT/etc/systemd/system/"
install -m 0644 "$REPO/firmware/units/90-branchwatch-rmem.conf" "$ROOT/etc/sysctl.d/"
install -m 0644 "$REPO/README.md" "$ROOT/opt/branchwatch/README.md"
grep -q '^gpio:' "$ROOT/etc/group" || groupadd --root "$ROOT" --system gpio
grep -q '^branchwatch:' "$ROOT/etc/passwd" || useradd --root "$ROOT" --system --user-group \
    --groups gpio --home-dir /var/lib/branchwatch --no-create-home --shell /usr/sbin/nologin branchwatch
usermod --root "$ROOT" --lock root
systemctl --root="$ROOT" enable branchwatch-firstboot.service branchwatch.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service ssh.service \
    wpa_supplicant@wlan0.service
ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"

cleanup; mounted=()
stage "generic: no host keys, empty machine-id, no logs"
rm -f "$ROOT"/etc/ssh/ssh_host_* "$ROOT/var/lib/dbus/machine-id"
: > "$ROOT/etc/machine-id"
rm -rf "$ROOT"/tmp/* "$ROOT"/var/tmp/* "$ROOT"/var/cache/apt/*.bin "$ROOT/root/.cache"
find "$ROOT/var/log" -type f -delete

stage "boot/root split"
mkdir -p "$WORK/boot"
cp -a "$ROOT/boot/firmware/." "$WORK/boot/"
find "$ROOT/boot/firmware" -mindepth 1 -delete
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}\t${Version}\t${Architecture}\n' \
    | sort > "$OUT/packages.tsv"
cp "$WORK/wheels.sha256" "$OUT/wheels.sha256"

stage "assemble $IMAGE"
cd "$HERE"
export PYTHONPATH="$REPO:$HERE"
"$HOSTPY" -m imagetool assemble --boot-tree "$WORK/boot" --root-tree "$ROOT" --image "$IMAGE" \
    --boot-mib "$BOOT_MIB" --epoch "${SOURCE_DATE_EPOCH:-0}"
if [ "$VERIFY" = 1 ]; then
    stage "verify"
    "$HOSTPY" -m imagetool verify "$IMAGE"
fi
stage "manifest"
"$HOSTPY" -m imagetool manifest "$IMAGE" -o "$OUT/manifest.tsv"
stage "pack: zstd, block map, SHA256SUMS"
"$HOSTPY" -m imagetool pack "$IMAGE"
ls -l "$OUT"
stage "done"

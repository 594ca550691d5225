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
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
VERIFY="${VERIFY:-1}"
IMAGE="$OUT/branchwatch-arm64.img"
ROOT="$WORK/root"
VENV=/opt/branchwatch/venv
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }
COMPRESS="${COMPRESS:-zstd}"          # zstd | xz | none
COMPRESS_LEVEL="${COMPRESS_LEVEL:-3}"  # zstd -3 -T0: seconds; -19 for a release upload
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3
imagetool() { PYTHONPATH="$REPO:$HERE" "$HOSTPY" -m imagetool "$@"; }

mounted=()
cleanup() {
    for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" || true; done
}
. "$HERE/root.sh"
trap 'cleanup; umount_root "$ROOT"' EXIT
bind() { mount --bind "$1" "$2"; mounted+=("$2"); }
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root "$@"; }

# ---------------------------------------------------------------- root tree
# The root is an overlay: the cached base tree read-only below, this build's changes in
# $WORK/upper. No copy of the 640 MiB base, and the cache cannot be modified by the build.
stage "root tree: overlay on the base"
umount_root "$ROOT"
rm -rf "$ROOT" "$WORK/boot" "$WORK/upper" "$WORK/ovl-work"
echo "$BASE" > "$WORK/base.path"
mount_root "$BASE" "$WORK" "$ROOT"   # unmounted on exit (check.sh mounts it again)
bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev"
PYVER="$(readlink "$ROOT/usr/bin/python3")"; PYVER="${PYVER#python}"   # e.g. 3.13

stage "venv: $VENV (qemu-user)"
# No pip in the image: wheels are installed natively below (pip under qemu took minutes).
in_root /usr/bin/python3 -m venv --without-pip "$VENV"

# ---------------------------------------------------------------- app-stage Debian packages
DEBS="$CACHE/debs"
mapfile -t APP_DEBS < <(grep -v '^\s*#' "$HERE/packages-app.txt" | grep .)
if [ ${#APP_DEBS[@]} -gt 0 ]; then
    stage "debian packages of packages-app.txt: ${#APP_DEBS[@]} (dpkg -i, qemu-user)"
    mkdir -p "$DEBS" "$ROOT/tmp/debs"
    debs_in_root=()
    for line in "${APP_DEBS[@]}"; do
        read -r _ _ sha path <<< "$line"
        deb="$DEBS/${path##*/}"
        if ! echo "$sha  $deb" | sha256sum -c --quiet 2>/dev/null; then
            curl -sSf -o "$deb.partial" "$MIRROR/$path"
            echo "$sha  $deb.partial" | sha256sum -c --quiet
            mv "$deb.partial" "$deb"
        fi
        cp "$deb" "$ROOT/tmp/debs/"
        debs_in_root+=("/tmp/debs/${path##*/}")
    done
    in_root dpkg -i --force-confold "${debs_in_root[@]}"
    rm -rf "$ROOT/tmp/debs"
fi

# ---------------------------------------------------------------- wheels
stage "wheels: project + pinned dependencies for cp${PYVER/./} aarch64"
WHEELS="$WORK/wheels"
rm -rf "$WHEELS"; mkdir -p "$WHEELS"
# The project wheel is built from the committed tree (git archive): reproducible, and setuptools
# never walks the work tree. Cached by the tree's hash: the same commit is built once.
COMMIT="$(git -C "$REPO" rev-parse "${BUILD_COMMIT:-HEAD}")"   # the image's commit (not the work tree)
TREE="$(git -C "$REPO" rev-parse "$COMMIT^{tree}")"
PROJECT="$CACHE/project-$TREE"
if ! ls "$PROJECT"/*.whl >/dev/null 2>&1; then
    rm -rf "$WORK/src" "$PROJECT.partial"; mkdir -p "$WORK/src" "$PROJECT.partial"
    git -C "$REPO" -c tar.umask=0022 archive --format=tar "$TREE" | tar -x -C "$WORK/src"
    "$HOSTPY" -m pip wheel --quiet --no-deps -w "$PROJECT.partial" "$WORK/src"
    find "$CACHE" -maxdepth 1 -name 'project-*' ! -name "project-$TREE*" -exec rm -rf {} +
    mv "$PROJECT.partial" "$PROJECT"
fi
cp "$PROJECT"/*.whl "$WHEELS/"
# Dependencies: pinned in pyproject.toml, transitive pins in constraints.txt; downloaded once per
# pin set (the directory is keyed by both files' pins and the target platform).
mapfile -t DEPS < <("$HOSTPY" -c 'import tomllib,sys; print("\n".join(tomllib.load(open(sys.argv[1],"rb"))["project"]["dependencies"]))' "$REPO/pyproject.toml")
PIPTARGET=(--only-binary=:all: --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}"
    --abi abi3 --abi none --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64
    --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform any)
DEPS_KEY="$( { printf '%s\n' "${DEPS[@]}" "${PIPTARGET[@]}"; grep -v '^\s*#' "$HERE/constraints.txt"; } | sha256sum | cut -c1-16)"
DEPSDIR="$CACHE/deps-$DEPS_KEY"
if [ ! -d "$DEPSDIR" ]; then
    rm -rf "$DEPSDIR.partial"; mkdir -p "$DEPSDIR.partial" "$CACHE/pip"
    "$HOSTPY" -m pip download --quiet --cache-dir "$CACHE/pip" --dest "$DEPSDIR.partial" \
        "${PIPTARGET[@]}" --constraint "$HERE/constraints.txt" "${DEPS[@]}"
    mv "$DEPSDIR.partial" "$DEPSDIR"
fi
cp "$DEPSDIR"/*.whl "$WHEELS/"
# Another build's lgpio.sh may be filling the cache right now: let it finish (two would share the
# builder tree).
while pgrep -f "lgpio\.sh" >/dev/null; do sleep 10; done
LGPIO_WHEEL="$(ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl 2>/dev/null | head -1 || true)"
if [ -z "$LGPIO_WHEEL" ] && [ "${LGPIO_OPTIONAL:-0}" = 1 ]; then
    # Development builds only: the image's status LEDs cannot work without lgpio.
    echo "WARNING: no lgpio wheel in $CACHE: building WITHOUT lgpio (LGPIO_OPTIONAL=1)" >&2
else
    if [ -z "$LGPIO_WHEEL" ]; then
        stage "lgpio: building the cp313 aarch64 wheel in an arm64 builder tree (cached)"
        "$HERE/lgpio.sh"
        LGPIO_WHEEL="$(ls "$CACHE"/lgpio-*-cp313-*aarch64*.whl | head -1)"
    fi
    cp "$LGPIO_WHEEL" "$WHEELS/"
fi
(cd "$WHEELS" && sha256sum *.whl) > "$WORK/wheels.sha256"

# ---------------------------------------------------------------- install
# Each wheel is unpacked natively (imagetool install-wheel) into a staging tree laid out like the
# venv, its .py compiled there by the image's own Python under qemu-user (checked-hash .pyc,
# compiled with the venv path as their source path), and the result cached by the wheel's sha256
# and everything else that shapes it. Unchanged wheels are never installed or compiled again.
INSTALL_KEY="$( { echo "$PYVER $VENV compileall -j1 per wheel, checked-hash, -d $VENV/lib"; readlink -f "$ROOT/usr/bin/python3"; cat "$HERE/imagetool/wheels.py"; \
    sha256sum "$ROOT/usr/bin/python$PYVER" "$ROOT/usr/lib/python$PYVER/py_compile.py" \
    "$ROOT/usr/lib/python$PYVER/compileall.py"; } | sed "s#$ROOT##" | sha256sum | cut -c1-12)"
INSTALLED="${INSTALLED:-$CACHE/installed}"
STAGING="$WORK/stage"
rm -rf "$STAGING"; mkdir -p "$STAGING" "$INSTALLED"
# Entries made for another Python, installer or compile method are never used again.
find "$INSTALLED" -mindepth 1 -maxdepth 1 ! -name "*-$INSTALL_KEY" -exec rm -rf {} +
staged=()
keys=()
while read -r sum name; do
    key="${name%%-*}-${sum:0:16}-$INSTALL_KEY"
    keys+=("$key")
    [ -d "$INSTALLED/$key" ] && continue
    stage "install-wheel $name (native)"
    imagetool install-wheel "$WHEELS/$name" --stage "$STAGING/$key" \
        --prefix "$VENV" --python "$PYVER"
    staged+=("$key")
done < "$WORK/wheels.sha256"
if [ ${#staged[@]} -gt 0 ]; then
    stage "compile ${#staged[@]} staged wheel(s): checked-hash .pyc (qemu-user)"
    mkdir -p "$ROOT/tmp/stage"
    bind "$STAGING" "$ROOT/tmp/stage"
    # One Python process per wheel, its files in compileall's fixed order: marshal's output
    # depends on what the process compiled before (interned strings' reference counts), so a
    # wheel's .pyc must not depend on which other wheels share a process. Two wheels at a time.
    # Only lib/ (what a compileall of the venv's lib/ compiled before): scripts stay uncompiled.
    printf '%s\n' "${staged[@]}" | xargs -P 2 -I{} chroot "$ROOT" /usr/bin/env -i \
        PATH=/usr/bin:/bin LC_ALL=C.UTF-8 HOME=/root "$VENV/bin/python" -m compileall -q -f -j 1 \
        --invalidation-mode checked-hash -d "$VENV/lib" "/tmp/stage/{}/lib"
    umount "$ROOT/tmp/stage"; unset 'mounted[${#mounted[@]}-1]'
    rmdir "$ROOT/tmp/stage"
    for key in "${staged[@]}"; do mv "$STAGING/$key" "$INSTALLED/$key"; done
fi
stage "merge ${#keys[@]} installed wheels into the venv"
imagetool merge-wheel --into "$ROOT$VENV" "${keys[@]/#/$INSTALLED/}"
# Old builds of the project's own wheel are never used again.
for old in "$INSTALLED"/branchwatch-*; do
    case " ${keys[*]} " in *" ${old##*/} "*) ;; *) rm -rf "$old" ;; esac
done

stage "smoke: branchwatch --version (qemu-user; check.sh also imports lgpio and runs tests)"
in_root "$VENV/bin/branchwatch" --version

stage "overlay, units, users, policy"
# Overlay, units and README of the same commit as the wheel (files another engineer has not
# committed yet never reach the image), modes as git records them: 0644 / 0755, never group- or
# world-writable whatever the umask of the checkout.
SRC="$WORK/commit"
rm -rf "$SRC"; mkdir -p "$SRC"
git -C "$REPO" -c tar.umask=0022 archive --format=tar "$TREE" image-build/overlay firmware/units README.md \
    | tar -x --no-same-owner -C "$SRC"
echo "$COMMIT" > "$OUT/commit"
cp -a --no-preserve=ownership "$SRC/image-build/overlay/." "$ROOT/"
mkdir -p "$ROOT/data"
install -m 0644 "$SRC"/firmware/units/*.service "$ROOT/etc/systemd/system/"
install -m 0644 "$SRC/firmware/units/90-branchwatch-rmem.conf" "$ROOT/etc/sysctl.d/"
install -m 0644 "$SRC/README.md" "$ROOT/opt/branchwatch/README.md"
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
# ldconfig's aux-cache records inode numbers and times of the libraries: different on every
# build (seen once dpkg -i ran ldconfig in the app stage). A cache: ldconfig remakes it.
rm -f "$ROOT/var/cache/ldconfig/aux-cache"
find "$ROOT/var/log" -type f -delete

stage "boot/root split"
mkdir -p "$WORK/boot"
cp -a "$ROOT/boot/firmware/." "$WORK/boot/"
find "$ROOT/boot/firmware" -mindepth 1 -delete
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}\t${Version}\t${Architecture}\n' \
    | sort > "$OUT/packages.tsv"
cp "$WORK/wheels.sha256" "$OUT/wheels.sha256"

stage "assemble $IMAGE"
imagetool assemble --boot-tree "$WORK/boot" --root-tree "$ROOT" --image "$IMAGE" \
    --boot-mib "$BOOT_MIB" --epoch "${SOURCE_DATE_EPOCH:-0}"
if [ "$VERIFY" = 1 ]; then
    stage "verify"
    imagetool verify "$IMAGE"
fi
stage "manifest"
imagetool manifest "$IMAGE" -o "$OUT/manifest.tsv"
stage "pack: block map, compression $COMPRESS$([ "$COMPRESS" = none ] || echo " -$COMPRESS_LEVEL"), SHA256SUMS"
imagetool pack "$IMAGE" --compression "$COMPRESS" --level "$COMPRESS_LEVEL"
ls -l "$OUT"
stage "done"

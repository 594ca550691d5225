#!/bin/bash
# make image-check: build the image (warm: cached base tree, .deb and wheel caches), verify it,
# run the sensor under qemu-user with the image's own Python, rebuild and compare manifests.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export WORK="${WORK:-$REPO/build/image/work}" OUT="${OUT:-$REPO/build/image/out}"
ROOT="$WORK/root"
VENV=/opt/branchwatch/venv
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }

stage "build 1"
"$HERE/build.sh"
cp "$OUT/manifest.tsv" "$WORK/manifest.1.tsv"

stage "qemu-user: the image's venv runs the sensor CLI"
chroot "$ROOT" "$VENV/bin/branchwatch" --version

stage "qemu-user: LED and capture unit tests with the image's Python"
SCRATCH="$WORK/check-root"
rm -rf "$SCRATCH"; cp -a "$ROOT" "$SCRATCH"
mounted=()
cleanup() { for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount "${mounted[$i]}" || umount -l "${mounted[$i]}" || true; done; }
trap cleanup EXIT
for m in proc dev; do mount --bind "/$m" "$SCRATCH/$m"; mounted+=("$SCRATCH/$m"); done
mkdir -p "$SCRATCH/tmp/src" "$SCRATCH/tmp/test-wheels"
mapfile -t TESTDEPS < <("$HOSTPY" -c 'import tomllib,sys; d=tomllib.load(open(sys.argv[1],"rb"))["project"]["optional-dependencies"]["test"]; print("\n".join(x for x in d if x.split("==")[0] in ("pytest","pytest-timeout","hypothesis")))' "$REPO/pyproject.toml")
"$HOSTPY" -m pip download --quiet --only-binary=:all: --python-version 3.13 --implementation cp \
    --abi cp313 --abi abi3 --abi none --platform any --platform manylinux2014_aarch64 \
    -d "$SCRATCH/tmp/test-wheels" "${TESTDEPS[@]}"
cp -a "$REPO/tests" "$REPO/pyproject.toml" "$SCRATCH/tmp/src/"
chroot "$SCRATCH" "$VENV/bin/python" -m ensurepip --quiet
chroot "$SCRATCH" "$VENV/bin/python" -m pip install --quiet --no-index --find-links /tmp/test-wheels "${TESTDEPS[@]}"
# The sources are NOT copied: the tests import the packages installed in the image's venv.
chroot "$SCRATCH" /bin/sh -c "cd /tmp/src && $VENV/bin/python -m pytest -q -p no:cacheprovider -m 'not slow' tests/hardware tests/capture"
cleanup; mounted=()

stage "build 2: same inputs, same manifest"
"$HERE/build.sh"
if diff -u "$WORK/manifest.1.tsv" "$OUT/manifest.tsv" > "$WORK/manifest.diff"; then
    echo "manifests identical ($(wc -l < "$OUT/manifest.tsv") lines)"
else
    echo "manifests differ: $WORK/manifest.diff"; head -40 "$WORK/manifest.diff"; exit 1
fi
stage "image-check passed"

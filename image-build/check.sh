#!/bin/bash
# make image-check: build the real image (warm: cached base tree, .deb and wheel caches), check
# it item by item with the filesystem tools themselves (independently of imagetool verify, which
# the build already ran), run the sensor and its LED and capture unit tests under qemu-user with
# the image's own Python, then rebuild from the same inputs and compare the content manifests.
#
# The rebuild re-installs and re-compiles every wheel (an empty install cache), so the
# comparison covers the build's own steps, not just its caches (REBUILD_INSTALLS=0: it reuses
# them). BUILD_COMMIT (default HEAD) pins the commit of both builds. Exit status: 0 when all passed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export WORK="${WORK:-$REPO/build/image/work}" OUT="${OUT:-$REPO/build/image/out}"
ROOT="$WORK/root"
IMAGE="$OUT/branchwatch-arm64.img"
VENV=/opt/branchwatch/venv
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }
. "$HERE/root.sh"
failed=()
item() {  # item NAME COMMAND...: run a check, print PASS/FAIL (and what it saw), remember failures
    local name="$1"; shift
    if out="$("$@" 2>&1)"; then echo "PASS  $name"; echo "$out" | head -3 | sed '/^$/d; s/^/      /'
    else echo "FAIL  $name"; echo "$out" | tail -8 | sed 's/^/      /'; failed+=("$name"); fi
}
# The unit tests run under qemu-user: the LED and capture tests take some 20 minutes there on
# these 2 cores (about 1150 tests), QEMU_TESTS="tests/hardware" some 3.
# tests/capture/test_live.py is left out: qemu-user does not emulate setsockopt(SOL_PACKET,
# PACKET_AUXDATA) (ENOPROTOOPT, "Protocol not available"), which the live capture needs; it runs
# natively in `make test` (root) and needs the Pi itself for arm64.
QEMU_TESTS="${QEMU_TESTS:-tests/hardware tests/capture}"
# Both builds and the tests use one commit, whatever others commit meanwhile.
export BUILD_COMMIT="${BUILD_COMMIT:-$(git -C "$REPO" rev-parse HEAD)}"

stage "build 1 (commit $BUILD_COMMIT)"
"$HERE/build.sh"
cp "$OUT/manifest.tsv" "$WORK/manifest.1.tsv"

# ------------------------------------------------------------ the image, item by item
stage "image items (sfdisk, mtools, debugfs, e2fsck, fsck.vfat)"
read -r BOOT_START BOOT_SIZE ROOT_START ROOT_SIZE < <(sfdisk --json "$IMAGE" | "$HOSTPY" -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"]
print(p[0]["start"], p[0]["size"], p[1]["start"], p[1]["size"])')
FAT="$IMAGE@@$(( BOOT_START * 512 ))"
EXT="$IMAGE?offset=$(( ROOT_START * 512 ))"
export MTOOLS_SKIP_CHECK=1
table_ok() {
    sfdisk --json "$IMAGE" | "$HOSTPY" -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
p = t["partitions"]
assert t["label"] == "dos", t["label"]
assert [x["type"] for x in p] == ["c", "83"], p
assert p[0].get("bootable") and p[0]["size"] * 512 >= 256 << 20, p[0]
assert p[1]["start"] >= p[0]["start"] + p[0]["size"], p'
}
fat_has() { for f in "$@"; do mdir -b -i "$FAT" "::/$f" >/dev/null || { echo "no $f"; return 1; }; done; }
config_files_present() {
    local names; names="$(mtype -i "$FAT" ::/config.txt | tr -d '\r' | sed -n \
        -e 's/^[[:space:]]*kernel[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1/p' \
        -e 's/^[[:space:]]*initramfs[[:space:]]\+\([^[:space:]#]*\).*/\1/p')"
    echo "config.txt names: $names"
    [ "$(echo "$names" | grep -c .)" -ge 2 ] || { echo "no kernel= and initramfs lines"; return 1; }
    fat_has $names
}
cmdline_ok() {
    local c; c="$(mtype -i "$FAT" ::/cmdline.txt)"; echo "cmdline.txt: $c"
    echo " $c " | grep -q ' root=LABEL=rootfs ' && ! echo " $c " | grep -q ' cma='
}
no_host_keys() { ! debugfs -R "ls -l /etc/ssh" "$EXT" 2>/dev/null | grep -q ssh_host_; }
machine_id_empty() {
    local s; s="$(debugfs -R "stat /etc/machine-id" "$EXT" 2>/dev/null | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -1)"
    echo "size ${s:-missing}"; [ "$s" = 0 ]
}
units_enabled() {
    local wants; wants="$(debugfs -R "ls /etc/systemd/system/multi-user.target.wants" "$EXT" 2>/dev/null)"
    for u in branchwatch.service branchwatch-firstboot.service systemd-networkd.service ssh.service; do
        echo "$wants" | grep -qw "$u" || { echo "$u not in multi-user.target.wants"; return 1; }
    done
}
fat_fsck() {
    local f="$WORK/check-boot.vfat"
    dd if="$IMAGE" of="$f" bs=512 skip="$BOOT_START" count="$BOOT_SIZE" conv=sparse status=none
    fsck.vfat -n "$f"; local rc=$?; rm -f "$f"; return $rc
}
item "partition table: MBR, 1 = FAT32 (c) bootable >= 256 MiB, 2 = Linux (83) after it" table_ok
item "FAT holds the Pi 4 boot files (start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt cmdline.txt)" \
    fat_has start4.elf fixup4.dat bcm2711-rpi-4-b.dtb config.txt cmdline.txt
item "FAT holds the kernel= and initramfs files config.txt names" config_files_present
item "cmdline.txt: root=LABEL=rootfs, no cma=" cmdline_ok
item "no ssh host keys in /etc/ssh" no_host_keys
item "/etc/machine-id exists and is empty" machine_id_empty
item "units enabled (sensor, first boot, networkd, ssh)" units_enabled
item "ext4 root fsck-clean (e2fsck -fn)" e2fsck -fn "$EXT"
item "FAT boot fsck-clean (fsck.vfat -n)" fat_fsck
item "imagetool verify: generic image policy" env PYTHONPATH="$REPO:$HERE" "$HOSTPY" -m imagetool verify "$IMAGE"

# ------------------------------------------------------------ qemu-user: the image's own Python
# The build's tree (base + its upper layer) below a throw-away layer: the tests write nothing
# into the build's tree, and no copy of it is made.
stage "qemu-user: mount the build's root read-only below a scratch layer"
SCRATCH="$WORK/check"
umount_root "$ROOT"
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"
mount_root "$WORK/upper:$(cat "$WORK/base.path")" "$SCRATCH" "$ROOT"
trap 'umount_root "$ROOT"' EXIT
mount --bind /proc "$ROOT/proc"; mount --bind /dev "$ROOT/dev"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/tmp "$@"; }
PYVER="$(readlink "$ROOT/usr/bin/python3")"; PYVER="${PYVER#python}"
item "qemu-user: chroot ... branchwatch --version (Python $PYVER)" in_root "$VENV/bin/branchwatch" --version
item "qemu-user: lgpio and gpiozero's lgpio pin factory import" \
    in_root "$VENV/bin/python" -c 'import lgpio, gpiozero.pins.lgpio'

stage "qemu-user: test tools for cp$PYVER (pytest, pytest-timeout, hypothesis), installed natively"
mapfile -t TESTDEPS < <("$HOSTPY" -c 'import tomllib,sys; d=tomllib.load(open(sys.argv[1],"rb"))["project"]["optional-dependencies"]["test"]; print("\n".join(x for x in d if x.split("==")[0] in ("pytest","pytest-timeout","hypothesis")))' "$REPO/pyproject.toml")
TESTWHEELS="$WORK/test-wheels"
rm -rf "$TESTWHEELS"; mkdir -p "$TESTWHEELS"
"$HOSTPY" -m pip download --quiet --cache-dir /var/cache/branchwatch-image/pip --only-binary=:all: \
    --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
    --platform any --platform manylinux2014_aarch64 -d "$TESTWHEELS" "${TESTDEPS[@]}" 2>&1 \
    | grep -v "^WARNING: Location" || true
TESTSITE="/tmp/testtools/lib/python$PYVER/site-packages"
for w in "$TESTWHEELS"/*.whl; do
    PYTHONPATH="$REPO:$HERE" "$HOSTPY" -m imagetool install-wheel "$w" --stage "$ROOT/tmp/testtools" \
        --prefix /tmp/testtools --python "$PYVER" >/dev/null
done
# Hypothesis deadlines are wall-clock limits set for native speed; qemu-user runs arm64 code some
# ten times slower, so they and the too-slow health check are lifted for this run (examples and
# assertions unchanged).
cat > "$ROOT$TESTSITE/bw_qemu_profile.py" <<'PY'
from hypothesis import HealthCheck, settings

settings.register_profile("qemu-user", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("qemu-user")
PY
# Only the tests, pyproject.toml (pytest's configuration) and the OUI generator its tests load,
# of the image's commit: the packages
# under test are the ones installed in the image's venv.
mkdir -p "$ROOT/tmp/src"
git -C "$REPO" archive --format=tar "$BUILD_COMMIT" tests pyproject.toml scripts/build_oui.py | tar -x --no-same-owner -C "$ROOT/tmp/src"
stage "qemu-user: LED and capture unit tests with the image's Python $PYVER"
run_tests() {
    # HOME=/root as on the host: scapy caches under $HOME/.cache, and a test's unprivileged user
    # must not find root's cache in the world-readable /tmp.
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root \
        PYTHONPATH="$TESTSITE" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 /bin/sh -c \
        "cd /tmp/src && $VENV/bin/python -m pytest -q -p no:cacheprovider -p bw_qemu_profile -m 'not slow' --ignore=tests/capture/test_live.py $QEMU_TESTS" \
        > "$WORK/check-tests.log" 2>&1
    local rc=$?
    tail -25 "$WORK/check-tests.log"
    return $rc
}
item "qemu-user: pytest $QEMU_TESTS (not slow) in the image's venv" run_tests
tail -3 "$WORK/check-tests.log"
umount_root "$ROOT"; trap - EXIT
rm -rf "$SCRATCH"

# ------------------------------------------------------------ rebuild, compare
# REBUILD_INSTALLS=0 lets build 2 reuse the installed-wheel cache (minutes faster under qemu; the
# comparison then covers everything but wheel installation and compilation).
if [ "${REBUILD_INSTALLS:-1}" = 1 ]; then
    stage "build 2: same commit and caches, every wheel installed and compiled again, no compression"
    rm -rf "$WORK/installed-rebuild"
    INSTALLED="$WORK/installed-rebuild" COMPRESS=none OUT="$WORK/out2" "$HERE/build.sh"
else
    stage "build 2: same commit and caches (installed wheels from the cache), no compression"
    COMPRESS=none OUT="$WORK/out2" "$HERE/build.sh"
fi
if diff -u "$WORK/manifest.1.tsv" "$WORK/out2/manifest.tsv" > "$WORK/manifest.diff"; then
    echo "PASS  two builds, same content manifest ($(wc -l < "$WORK/out2/manifest.tsv") lines)"
else
    echo "FAIL  two builds, different manifests: $WORK/manifest.diff"; head -40 "$WORK/manifest.diff"
    failed+=("manifest")
fi
rm -rf "$WORK/installed-rebuild" "$WORK/out2"/branchwatch-arm64.img*
if [ ${#failed[@]} -gt 0 ]; then
    stage "image-check FAILED: ${failed[*]}"; exit 1
fi
stage "image-check passed"

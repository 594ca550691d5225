#!/bin/bash
# Optional boot test (`make image-boottest`, root; not in CI, not in `make image-check`):
# qemu-system-aarch64 -M virt boots a personalised copy of the built image twice, with the
# image's own kernel, initramfs and root filesystem, and reads the serial console.
#
#   image-build/boottest.sh [IMAGE]     default build/image/out/branchwatch-arm64.img
#   environment: BOOTTEST_WORK (build/image/boottest), BOOTTEST_TIMEOUT (s per boot, 1500),
#                BOOTTEST_CARD_MIB (size of the emulated card, 3072)
#
# The collector side runs on the host (boottest_link.py: a collector CA, the sensor registered
# with a single-use token, the shipped Mosquitto TLS config, `collector serve` on SQLite),
# reached from the guest as 10.0.2.2. Boot 1 happens with the link down (no broker): the
# serial console must show the data partition created, first-boot provisioning from the site
# bundle, branchwatch.service started (Type=notify: systemd reports it only after the sensor's
# READY=1) and still running 90 s later, and the sensor retrying its enrolment. The machine is
# then powered off through the QEMU monitor (system_powerdown: the virt board's power key,
# handled by systemd-logind). Boot 2 happens with the broker and collector up: the sensor
# must start again with nothing left to provision, enrol, and deliver signed batches that the
# collector verifies and stores. Between and after the boots the card is read without
# mounting (debugfs, mtype): the device key and ssh host keys must exist after boot 1, be
# unchanged after boot 2, and the site bundle must be gone from the FAT partition.
#
# What it does not prove: the Raspberry Pi boot chain (firmware, config.txt, device tree; QEMU
# loads the kernel and initramfs directly with the root= of cmdline.txt), GPIO (the virt board
# has none: the LEDs' failure to open is expected in the log), the hardware watchdog, Wi-Fi,
# capture of real traffic (the capture NIC is silent: the batches hold the sensor's health).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
IMAGE="${1:-$REPO/build/image/out/branchwatch-arm64.img}"
WORK="${BOOTTEST_WORK:-$REPO/build/image/boottest}"
TIMEOUT="${BOOTTEST_TIMEOUT:-1500}"
CARD_MIB="${BOOTTEST_CARD_MIB:-3072}"
HOSTPY="$REPO/.venv/bin/python"; [ -x "$HOSTPY" ] || HOSTPY=python3

[ "$(id -u)" = 0 ] || { echo "boottest.sh: needs root (apt-get for qemu-system-arm)" >&2; exit 1; }
[ -f "$IMAGE" ] || { echo "boottest.sh: no image at $IMAGE (make image first)" >&2; exit 1; }
command -v qemu-system-aarch64 >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm
}
T0=$(date +%s)
stage() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - T0 ))s: $*"; }
fail() { echo "boottest: FAIL: $*" >&2; exit 1; }

rm -rf "$WORK"; mkdir -p "$WORK"
DISK="$WORK/card.img"
stage "card: a copy of $(basename "$IMAGE") on a ${CARD_MIB} MiB card"
cp --sparse=always "$IMAGE" "$DISK"
truncate -s "${CARD_MIB}M" "$DISK"

# Byte offset of partition N (sfdisk's JSON, 512-byte sectors).
offset() { sfdisk -J "$DISK" | "$HOSTPY" -c "import json,sys; t=json.load(sys.stdin)['partitiontable']; print([p for p in t['partitions'] if p['node'].endswith(sys.argv[1])][0]['start']*512)" "$1"; }
BOOT_OFF=$(offset 1)
ROOT_OFF=$(offset 2)

stage "collector side (host): CA, sensor registered with a token; site bundle; personalise"
# QEMU's user network shows the host to the guest as 10.0.2.2: the broker the bundle names.
# It is NOT running during boot 1 (a branch whose link is down at first boot: the sensor must
# start, capture, buffer and keep retrying its enrolment); boot 2 has the link up.
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto
}
PORT=$("$HOSTPY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$HOSTPY" "$HERE/boottest_link.py" setup "$WORK"
cat > "$WORK/site.toml" <<EOF
site = "boottest"
sensor_id = "boottest-01"
broker = "mqtts://10.0.2.2:$PORT"
capture_interface = "eth0"
ntp_servers = ["10.0.2.2"]
$(cat "$WORK/link/site-extra.toml")

[uplink]
interface = "eth1"
address = "dhcp"
EOF
TOKEN=$(sed -n 's/^token = """\(.*\)"""$/\1/p' "$WORK/link/site-extra.toml")
[ -n "$TOKEN" ] || fail "no token from the collector"
PYTHONPATH="$REPO:$HERE" "$HOSTPY" -m imagetool personalise "$DISK" "$WORK/site.toml"

stage "kernel and initramfs named in config.txt, from the FAT partition"
mtype -i "$DISK@@$BOOT_OFF" ::/config.txt > "$WORK/config.txt"
mtype -i "$DISK@@$BOOT_OFF" ::/cmdline.txt > "$WORK/cmdline.txt"
KERNEL=$(sed -n 's/^kernel=//p' "$WORK/config.txt" | tail -n 1)
INITRD=$(sed -n 's/^initramfs \([^ ]*\).*/\1/p' "$WORK/config.txt" | tail -n 1)
[ -n "$KERNEL" ] && [ -n "$INITRD" ] || fail "config.txt names no kernel= / initramfs"
mcopy -n -i "$DISK@@$BOOT_OFF" "::/$KERNEL" "$WORK/kernel"
mcopy -n -i "$DISK@@$BOOT_OFF" "::/$INITRD" "$WORK/initrd"
# The card's own command line, with the console on the virt board's PL011 and classic NIC names
# (virtio NICs: eth0 = capture, eth1 = uplink, as in the bundle).
CMDLINE="$(sed -e 's/console=[^ ]*//g' "$WORK/cmdline.txt" | xargs) console=ttyAMA0"
grep -q "net.ifnames=0" <<< "$CMDLINE" || CMDLINE="$CMDLINE net.ifnames=0"
# Emulated (TCG) arm64 runs roughly 10-20x slower than a Pi 4: the sensor's start (Python
# imports, scapy) would overrun systemd's default 90 s start timeout, which the Pi never does.
CMDLINE="$CMDLINE systemd.default_timeout_start_sec=900"
# The journal on the serial console too: the sensor's own log lines are then in the serial log.
CMDLINE="$CMDLINE systemd.journald.forward_to_console=1"
grep -q "root=LABEL=rootfs" <<< "$CMDLINE" || fail "cmdline.txt has no root=LABEL=rootfs"
echo "kernel $KERNEL, initramfs $INITRD, cmdline: $CMDLINE"

boot() { # boot N RUN_S: run until the sensor has started (or failure/timeout), RUN_S more, power off
    local n=$1 run_s=$2 log="$WORK/serial-$1.log" mon="$WORK/monitor-$1.sock" start pid rc=0
    stage "boot $n: qemu-system-aarch64 -M virt (TCG), serial log $log"
    start=$(date +%s)
    qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot \
        -kernel "$WORK/kernel" -initrd "$WORK/initrd" -append "$CMDLINE" \
        -drive "file=$DISK,format=raw,if=none,id=card" -device virtio-blk-pci,drive=card \
        -netdev user,id=cap,restrict=on -device virtio-net-pci,netdev=cap,romfile= \
        -netdev user,id=up -device virtio-net-pci,netdev=up,romfile= \
        -monitor "unix:$mon,server,nowait" -serial "file:$log" -display none \
        </dev/null >"$WORK/qemu-$n.out" 2>&1 &
    pid=$!
    while :; do
        sleep 5
        # systemd colours the unit names: strip the escape sequences before matching.
        sed 's/\x1b\[[0-9;:]*[a-zA-Z]//g' "$log" > "$log.txt" 2>/dev/null || true
        if grep -qa "Started branchwatch.service" "$log.txt"; then break; fi
        if grep -qaE "emergency mode|Kernel panic|Failed to start branchwatch.service" "$log.txt"; then
            rc=1; break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then rc=1; break; fi
        if [ $(( $(date +%s) - start )) -ge "$TIMEOUT" ]; then rc=2; break; fi
    done
    local ready=$(( $(date +%s) - start ))
    if kill -0 "$pid" 2>/dev/null; then
        # Keep it running past the watchdog's reach (WatchdogSec=30 after the 10 s progress
        # gate) with a silent capture NIC and no broker: it must stay up, not crash-loop.
        sleep "$run_s"
        sed 's/\x1b\[[0-9;:]*[a-zA-Z]//g' "$log" > "$log.txt"
        if sed -n '/Started branchwatch.service/,$p' "$log.txt" | grep -qaE \
                "branchwatch.service: (Watchdog timeout|Failed with result|Main process exited)"; then
            rc=3
        fi
        # Wait for the monitor's reply before closing: a command cut off by the close is lost.
        "$HOSTPY" -c "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5); s.recv(4096); s.sendall(b'system_powerdown\n'); time.sleep(1); s.recv(4096); s.close()" "$mon" || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 5; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "boot $n: no clean power-off in 300 s: killed (a power cut)"; kill "$pid"
            echo "boot$n power_off=killed" >> "$WORK/times"
        fi
    fi
    wait "$pid" 2>/dev/null || true
    local total=$(( $(date +%s) - start ))
    echo "boot $n: sensor started after ${ready} s; powered off after ${total} s (rc=$rc)"
    echo "boot$n ready_s=$ready total_s=$total rc=$rc" >> "$WORK/times"
    case "$rc" in
        0) ;;
        2) tail -n 60 "$log.txt"; fail "boot $n: timeout" ;;
        3) grep -a "branchwatch.service" "$log.txt" | tail -n 20; fail "boot $n: the sensor did not stay up" ;;
        *) tail -n 60 "$log.txt"; fail "boot $n: failed (see $log)" ;;
    esac
}

# The identity on the card after a boot: sha256 (16 hex digits) of the device keys on the data
# partition (firmware/provision.py: keys/signing.key, keys/tls.key) and of the ssh host keys.
identity() {
    local data_off out="$WORK/identity-$1" f
    data_off=$(offset 3)
    : > "$out"
    for f in /branchwatch/keys/signing.key /branchwatch/keys/tls.key; do
        echo "data:$f $(debugfs -c -R "cat $f" "$DISK?offset=$data_off" 2>/dev/null | sha256sum | cut -c1-16)" >> "$out"
    done
    for f in ed25519 ecdsa rsa; do
        f="/etc/ssh/ssh_host_${f}_key"
        echo "root:$f $(debugfs -c -R "cat $f" "$DISK?offset=$ROOT_OFF" 2>/dev/null | sha256sum | cut -c1-16)" >> "$out"
    done
    cat "$out"
}

boot 1 90
grep -qa "data partition 3 of /dev/vda ready" "$WORK/serial-1.log.txt" || fail "boot 1: no data partition step on the console"
grep -qa "firstboot: provisioned" "$WORK/serial-1.log.txt" || fail "boot 1: no provisioning on the console"
# The link is down (no broker): the running sensor keeps retrying its enrolment.
grep -qa "enrolment not completed (retrying" "$WORK/serial-1.log.txt" || fail "boot 1: the sensor did not retry its enrolment"
if grep -qa "cannot start" "$WORK/serial-1.log.txt"; then fail "boot 1: the sensor refused to start"; fi
sfdisk -d "$DISK" | grep -q "^${DISK}3 :" || fail "boot 1: no partition 3 in the table"
stage "after boot 1: card contents"
mdir -i "$DISK@@$BOOT_OFF" -b :: > "$WORK/fat-1.txt"
if grep -q "site.toml" "$WORK/fat-1.txt"; then fail "boot 1: site.toml still on the FAT partition"; fi
grep -q "PROVISIONED.txt" "$WORK/fat-1.txt" || fail "boot 1: no PROVISIONED.txt"
if grep -a -q -F "$TOKEN" <(dd if="$DISK" bs=1M skip=$((BOOT_OFF / 1048576)) count=512 2>/dev/null); then
    fail "boot 1: the bundle's token is still readable in the FAT partition's bytes"
fi
identity 1
# e3b0c44298fc1c14: the sha256 of nothing (debugfs found no such file)
[ "$(grep -c ' e3b0c44298fc1c14$' "$WORK/identity-1" || true)" = 0 ] || fail "boot 1: a key is missing"

stage "the branch link comes up: broker (shipped TLS config) and collector on the host"
"$HOSTPY" "$HERE/boottest_link.py" serve "$WORK" "$PORT" > "$WORK/link/serve.out" 2>&1 &
LINK_PID=$!
trap 'kill -TERM "$LINK_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do grep -q ready "$WORK/link/serve.out" && break; sleep 1; done
grep -q ready "$WORK/link/serve.out" || { cat "$WORK/link/serve.out"; fail "the collector did not start"; }
# Long enough for the first batch: the sensor seals one every 120 s (uplink.batch_seal_interval_s).
boot 2 "${BOOTTEST_RUN2_S:-240}"
kill -TERM "$LINK_PID"; wait "$LINK_PID" || true
"$HOSTPY" "$HERE/boottest_link.py" report "$WORK" || fail "boot 2: no batch from the sensor verified and stored by the collector"
stage "after boot 2: same identity"
identity 2
cmp -s "$WORK/identity-1" "$WORK/identity-2" || { diff "$WORK/identity-1" "$WORK/identity-2"; fail "identity changed on boot 2"; }
stage "passed"
cat "$WORK/times"

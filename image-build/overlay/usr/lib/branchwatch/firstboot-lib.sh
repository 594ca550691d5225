# Shared by branchwatch-datapart and branchwatch-firstboot (sourced, not run).
#
# Test seams, all unset in the units (the defaults are the appliance's paths):
#   BW_FIRSTBOOT_BRANCHWATCH  the branchwatch command (tests: a stub that records LED states)
#   BW_FIRSTBOOT_STOP_AT      a step name: the script SIGKILLs itself (and its LED process) on
#                             reaching that step, as a power cut would stop it there

BW="${BW_FIRSTBOOT_BRANCHWATCH:-/opt/branchwatch/venv/bin/branchwatch}"

log() { echo "$PROG: $*"; }
die() { log "$*" >&2; exit 1; }

# A step boundary: everything before it is written (and synced where it matters).
step() {
    log "step $1"
    if [ "${BW_FIRSTBOOT_STOP_AT:-}" = "$1" ]; then
        [ -z "$leds_pid" ] || kill -KILL "$leds_pid" 2>/dev/null || true
        kill -KILL $$
    fi
}

# The status LEDs show "P" (provisioning) while there is first-boot work to do.
leds_pid=""
leds_on() {
    [ -z "$leds_pid" ] || return 0
    "$BW" leds --state P >/dev/null 2>&1 &
    leds_pid=$!
}
leds_off() {
    [ -n "$leds_pid" ] || return 0
    kill "$leds_pid" 2>/dev/null || true
    wait "$leds_pid" 2>/dev/null || true
    leds_pid=""
}
trap leds_off EXIT

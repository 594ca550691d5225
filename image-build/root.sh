# Sourced by app.sh and check.sh: the image's root tree as an overlay mount.
#   mount_root BASE WORK ROOT   base tree read-only below, WORK/upper holds the build's changes
#   umount_root ROOT            unmount (and anything mounted below it), if mounted
mount_root() {
    mkdir -p "$2/upper" "$2/ovl-work" "$3"
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/ovl-work" "$3"
}
umount_root() {
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r) ; do umount "$m" || umount -l "$m"; done
    if mountpoint -q "$1"; then umount "$1" || umount -l "$1"; fi
}

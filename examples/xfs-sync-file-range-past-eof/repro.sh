#!/bin/bash
# XFS: an extending write zeroes the old EOF block's tail only in the page cache
# (xfs_file_write_zero_eof -> xfs_zero_range); writeback of the new block alone
# (sync_file_range over [4096, 8192)) completes an ioend that logs the new size
# (xfs_end_ioend -> xfs_iomap_write_unwritten / xfs_setfilesize). Any later log force
# (an fsync of another file, sync, the 30 s xfs_log_worker) makes that size durable while
# the zeroed EOF block is still dirty in memory. A crash then recovers a file whose bytes
# [1000, 4096) are whatever the disk held there.
#
#   case 1 "plant":    bytes planted on disk past EOF (0x5a) come back as file data;
#   case 2 "truncate": no planting: data cut off by truncate(1000) comes back (0x41),
#                      although POSIX says [1000, 4096) reads as zeros after the extension.
#
# The crash is `xfs_io -x -c shutdown` (no log flush: like a power cut) after an fsync of
# an unrelated file g; with WAIT=1 the script instead waits for the periodic log worker
# (fs.xfs.xfssyncd_centisecs, 30 s by default) and does no fsync at all (~50 s per case).
# Needs root, xfsprogs, util-linux (losetup). Exit 1 when the bytes are exposed.
# Standalone: does not use eofsim.
set -euo pipefail
. "$(dirname "$0")/../xfs-repro-lib.sh"
xfs_repro_init xfs-sfr mkfs.xfs xfs_io xfs_bmap losetup
truncate -s 512M "$W/img"
mkfs.xfs -q -f "$W/img"
DEV=$(losetup -f --show "$W/img")
mkdir "$W/m"
echo "Linux $(uname -r), $(mkfs.xfs -V)"

PERIOD=$(( $(cat /proc/sys/fs/xfs/xfssyncd_centisecs) / 100 ))
mount_fs() {
  mount -o nouuid "$DEV" "$W/m"
  MOUNTED_AT=$(date +%s)
}

before_workload() {
  # WAIT=1: the first log worker runs PERIOD s after mount (xfs_log_work_queue). The flusher
  # writes the zeroed block once it is dirty_expire_centisecs old (30 s; its 5 s timer is
  # started by the first dirtying), so dirty it half a period after mount: the log worker
  # then logs the size ~15 s before the flusher writes block 0.
  if [ "${WAIT:-0}" = 1 ]; then
    echo "  WAIT=1: sleeping $((PERIOD / 2)) s after mount before the workload"
    sleep $((PERIOD / 2))
  fi
}

force_log_and_crash() {
  if [ "${WAIT:-0}" = 1 ]; then
    left=$(( MOUNTED_AT + PERIOD + 3 - $(date +%s) ))
    echo "  WAIT=1: no fsync; ${left} s until just after the first xfs_log_worker run"
    sleep $left
  else
    xfs_io -c 'pwrite -q 0 1' -c fsync "$W/m/g"      # log force from an unrelated file
  fi
  xfs_io -x -c shutdown "$W/m"                       # no log flush: a crash
  umount "$W/m"
  mount -o nouuid "$DEV" "$W/m"                      # log recovery (nouuid: harmless)
}

show() {
  echo "  after recovery: size $(stat -c %s "$W/m/f"); bytes [1000, 4096) (count, value):"
  od -An -tx1 -v -j 1000 -N 3096 "$W/m/f" | tr -s ' ' '\n' | { grep . || true; } | sort \
    | uniq -c | sed 's/^/   /'
}

exposed=0
# ---- case 1: sentinel planted past EOF in the file's last block
mount "$DEV" "$W/m"
xfs_io -f -c 'pwrite -q -S 0x41 0 1000' -c fsync "$W/m/f"
touch "$W/m/g"
daddr=$(xfs_bmap "$W/m/f" | awk '$1 == "0:" { split($3, r, "\\.\\."); print r[1] }')
[ -n "$daddr" ] || { echo "could not find f's first block (xfs_bmap)" >&2; exit 2; }
umount "$W/m"
echo "case 1 (plant): f = 1000 bytes of 0x41 in the block at daddr $daddr; planting 0x5a in [1000, 4096)"
xfs_io -c "pwrite -q -S 0x5a $((daddr * 512 + 1000)) 3096" -c fsync "$DEV"
mount_fs
before_workload
xfs_io -c 'pwrite -q -S 0x42 4096 4096' -c 'sync_range -w 4096 4096' \
       -c 'sync_range -a 4096 4096' "$W/m/f"
force_log_and_crash
show
if od -An -tx1 -j 1000 -N 3096 "$W/m/f" | grep -q 5a; then  # (empty if size stayed 1000)
  echo "  EXPOSED: the planted bytes are file data"; exposed=1
fi
rm -f "$W/m/f" "$W/m/g"
umount "$W/m"

# ---- case 2: no planting; data a truncate cut off comes back
mount_fs
touch "$W/m/g"
before_workload
echo "case 2 (truncate): f = 8192 bytes of 0x41, fsync, truncate 1000, write [4096, 8192) of 0x42"
xfs_io -f -c 'pwrite -q -S 0x41 0 8192' -c fsync -c 'truncate 1000' \
       -c 'pwrite -q -S 0x42 4096 4096' -c 'sync_range -w 4096 4096' \
       -c 'sync_range -a 4096 4096' "$W/m/f"
force_log_and_crash
show
if od -An -tx1 -j 1000 -N 3096 "$W/m/f" | grep -q 41; then
  echo "  EXPOSED: truncated data reads back past the old EOF (should be zeros)"; exposed=1
fi
umount "$W/m"
exit $exposed

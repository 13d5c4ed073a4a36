#!/bin/bash
# XFS punch hole writes the punched range back before dropping it
# (xfs_file_fallocate -> xfs_free_file_space -> xfs_flush_unmap_range:
# filemap_write_and_wait_range over the page-rounded range, then truncate_pagecache_range).
# The write-back of block 1 converts the delalloc extent (unwritten) and its ioend logs
# i_disk_size 8192 (xfs_end_ioend -> xfs_iomap_write_unwritten / xfs_setfilesize); an fsync
# of another file forces the log. A crash then recovers size 8192 with [0, 4096) reading
# zeroes (the write of [0, 16384) had completed): the model's `xfs` policy class
# "f: size=8192 [zeros-instead-of-data]" (punch-hole-over-dirty-data plus "fsync g").
# The write is four 4 KiB pwrite calls (-b 4096): order-0 folios, as the model's page cache.
# With one 16 KiB call (BIG=1: -b 16384) iomap_write_begin asks for an order-2 folio
# (fgf_set_order(len), XFS maps large folios), the flush writes that whole folio back and
# the size recovered is 16384 with the data intact: what kernel-check sees on
# punch-hole-over-dirty-data, whose write is one call.
# The crash is `xfs_io -x -c shutdown` (no log flush). Needs root, xfsprogs, util-linux.
# Prints the recovered size and the first bytes; exit 1 when size is 8192 over zeroes.
# Standalone: does not use eofsim.
set -euo pipefail
. "$(dirname "$0")/../xfs-repro-lib.sh"
xfs_repro_init xfs-punch mkfs.xfs xfs_io losetup
mkdir "$W/m"
truncate -s 300M "$W/img"
DEV=$(losetup -f --show "$W/img")
mkfs.xfs -q -f -K "$DEV"
mount -o noatime "$DEV" "$W/m"
B=4096; [ "${BIG:-0}" = 1 ] && B=16384
xfs_io -f -c "pwrite -q -b $B -S 0x41 0 16384" -c "fpunch 4096 4096" "$W/m/f"
xfs_io -f -c "pwrite -q 0 100" -c fsync "$W/m/g"
xfs_io -x -c shutdown "$W/m/g"
umount "$W/m"
mount "$DEV" "$W/m"
size=$(stat -c %s "$W/m/f")
first=$(od -An -tx1 -N4 "$W/m/f" | tr -d ' ')
echo "f: size=$size first bytes=$first"
[ "$size" = 8192 ] && [ "$first" = 00000000 ] && exit 1
exit 0

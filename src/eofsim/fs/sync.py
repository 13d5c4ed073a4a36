"""fs/sync.c: sync(2), syncfs(2) and sync_file_range(2).

Assumption (both sync paths): sync_blockdev_nowait / sync_blockdev / sync_bdevs write the
block device's own page cache, which the model does not have, so they do nothing here. On
ext4 that cache holds committed metadata buffers waiting for checkpoint (their home
locations); writing them changes nothing recovery reads, since replay rewrites those blocks
from the journal (checkpointing is not modelled), and they issue no cache flush in
6.12.117 (__sync_blockdev -> filemap_write_and_wait)."""

from ..mm.filemap import filemap_fdatawait_range
from ..mm.page_writeback import WB_SYNC_ALL, WB_SYNC_NONE, WbReason, WritebackControl, do_writepages
from .fs_writeback import sync_inodes_sb, writeback_inodes_sb

LLONG_MAX = (1 << 63) - 1


def _mappings(sb):
    return [inode.mapping for inode in sb.by_ino.values()]


def sync_filesystem(sb):
    """syncfs(2) -> sync_filesystem (6.12.117): writeback_inodes_sb (WB_SYNC_NONE: submit,
    not wait), ->sync_fs(sb, 0) (ext4: start the commit, do not wait for it),
    sync_blockdev_nowait, sync_inodes_sb (WB_SYNC_ALL, then wait for all writeback),
    ->sync_fs(sb, 1) (commit and wait, flush if that commit sends none), sync_blockdev.
    The first commit can carry writeback's new i_disksize (mpage_map_and_submit_extent)
    before the data's end I/O converts its unwritten extents (ext4_end_io_rsv_work), which
    then lands in the second: a crash between the two recovers the new size over zeros."""
    yield from writeback_inodes_sb(_mappings(sb))
    yield from sb.sync_fs(wait=False)
    yield from sync_inodes_sb(_mappings(sb))
    yield from sb.sync_fs(wait=True)


def ksys_sync(sb):
    """sync(2) -> ksys_sync (6.12.117) on the one filesystem: wakeup_flusher_threads,
    sync_inodes_sb (WB_SYNC_ALL; waits for all writeback, end-I/O conversions included),
    then ->sync_fs(sb, 0) and ->sync_fs(sb, 1). Unlike syncfs, every conversion has run
    before the first commit starts.
    Assumption: wakeup_flusher_threads only wakes the flusher (wb_start_writeback ->
    WB_start_all); the model takes the schedule in which the flusher takes sync_inodes_sb's
    queued work first (wb_do_writeback runs queued work before wb_check_start_all), after
    which the start-all pass finds nothing dirty."""
    yield from sync_inodes_sb(_mappings(sb))
    yield from sb.sync_fs(wait=False)
    yield from sb.sync_fs(wait=True)


def sync_file_range(mapping, off, length, flags):
    """sync_file_range(2) (ksys_sync_file_range): WAIT_BEFORE waits for writeback in the
    range; WRITE submits it, WB_SYNC_ALL only with all three flags; WAIT_AFTER waits again.
    It never commits metadata, so it never makes a size durable."""
    end = off + length - 1 if length else LLONG_MAX
    if "wait_before" in flags:
        yield from filemap_fdatawait_range(mapping, off, end)
    if "write" in flags:
        mode = WB_SYNC_ALL if len(flags) == 3 else WB_SYNC_NONE
        yield from do_writepages(mapping, WritebackControl(mode, off, end, reason=WbReason.SYNC_FILE_RANGE))
    if "wait_after" in flags:
        yield from filemap_fdatawait_range(mapping, off, end)

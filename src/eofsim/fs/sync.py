"""fs/sync.c: sync(2) and sync_file_range(2)."""

from ..mm.filemap import filemap_fdatawait_range, filemap_write_and_wait_range
from ..mm.page_writeback import WB_SYNC_ALL, WB_SYNC_NONE, WbReason, WritebackControl, do_writepages

LLONG_MAX = (1 << 63) - 1


def ksys_sync(sb):
    """ksys_sync: WB_SYNC_ALL writeback of every inode and wait (sync_inodes_sb), then the
    filesystem's ->sync_fs."""
    for inode in list(sb.by_ino.values()):
        yield from filemap_write_and_wait_range(inode.mapping, 0, LLONG_MAX, WbReason.SYNC)
        inode.mapping.writeback_done()
    yield from sb.sync_fs()


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

"""The hook points where designs for making EOF zeroing safe differ.

The core (ext4.py) calls these; each policy module overrides the few it needs. A hook that
may block is a generator; its default returns an empty tuple, so callers always write
`yield from policy.hook(...)`.

| hook | called from | kernel place |
|---|---|---|
| zeroed_eof | ext4_block_zero_eof, after the EOF block's tail was zeroed in the page cache | the tail of ext4_block_zero_eof (ordered range, or iomap submission) |
| before_grow | iomap truncate up / fallocate, before the handle that grows i_disksize | v4 18/23's wait; v5+ fallocate submit-and-wait |
| disksize_target | every place that would raise i_disksize (setattr, write_end, fallocate, bh writeback) | ext4_update_i_disksize callers |
| begin_truncate / truncated / shrink_disksize | truncate down | ext4_begin_ordered_truncate; v5+ clearing the pending bit |
| before_fsync | ext4_sync_file before file_write_and_wait_range | "ext4_sync_file finds the pending block" |
| writeback_range / before_writeback | iomap ->writepages before the walk | deferred: submit from i_disksize up; v5+: submit and wait pending I/O |
| needs_end_io / before_end_io / end_io_disksize / after_end_io | iomap I/O completion and the end-I/O worker | v4 09/23 size update at completion; xfs_prepare_ioend, xfs_end_ioend |
"""


class Policy:
    name = ""
    path = "bh"
    """'bh': the buffer_head path (Linux 6.12); 'iomap': the ext4 buffered-iomap series."""
    data_mode = "ordered"
    summary = ""

    def zeroed_eof(self, fs, handle, inode, start, length, written):
        return ()

    def before_grow(self, fs, inode, new_size, why):
        return ()

    def disksize_target(self, fs, inode, new_size, why) -> int:
        return new_size

    def begin_truncate(self, fs, inode, size):
        return ()

    def truncated(self, fs, inode, size):
        pass

    def shrink_disksize(self, fs, inode, size) -> int:
        """i_disksize for a truncate down to `size` (ext4_setattr sets it to the new size)."""
        return size

    def needs_end_io(self, fs, inode, ioend) -> bool:
        """Route an iomap ioend's completion to the end-I/O worker (xfs_prepare_ioend's rule:
        it ends past the on-disk size)."""
        return ioend.end > inode.i_disksize

    def before_fsync(self, fs, inode):
        return ()

    def writeback_range(self, fs, inode, wbc):
        pass

    def before_writeback(self, fs, inode, wbc):
        return ()

    def before_end_io(self, fs, inode, ioend):
        return ()

    def end_io_disksize(self, fs, inode, ioend) -> int:
        """xfs_setfilesize's rule, which the series' end-I/O size update follows:
        min(end of the I/O, i_size), only ever raising."""
        return min(ioend.end, inode.i_size)

    def after_end_io(self, fs, inode, ioend):
        pass
